// A vSphere API server for DesktopVM's ESXi tests: govmomi's simulator (Debian's
// golang-github-vmware-govmomi-dev) on a loopback port, with TLS from the given key pair.
//
// It prints one line, the SDK URL (no credentials), and serves until its standard input closes
// or it gets a signal. Two additions, answered in front of the simulator's own /sdk handler
// because 0.24 has no such method or rule (docs/esxi.md says what each proves):
//   - PutUsbScanCodes on a VirtualMachine (vSphere 6.5+): counted, and the HID codes kept for
//     GET /desktopvm/keys (the tests read what the backend typed);
//   - -free: the host reports the free licence's edition and refuses every write method with
//     RestrictedVersion, the fault a free-licence ESXi returns;
//   - the bytes each NFC upload (an OVF import's disk) carried, for GET /desktopvm/nfc: the
//     simulator itself discards them.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type counter struct {
	io.ReadCloser
	n *int64
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	*c.n += int64(n)
	return n, err
}

var (
	keysMu   sync.Mutex
	keysSeen []int64 // usbHidCode values in the order they were sent
	nfcMu    sync.Mutex
	nfcBytes = map[string]int64{} // upload path -> bytes received

	hidCode  = regexp.MustCompile(`<usbHidCode>(-?\d+)</usbHidCode>`)
	method   = regexp.MustCompile(`<soapenv:Body>\s*<([A-Za-z_]+)[\s>]`)
	writeOps = map[string]bool{
		"PowerOnVM_Task": true, "PowerOffVM_Task": true, "ResetVM_Task": true,
		"SuspendVM_Task": true, "ShutdownGuest": true, "CreateVM_Task": true,
		"ReconfigVM_Task": true, "Destroy_Task": true, "CreateSnapshot_Task": true,
		"RevertToSnapshot_Task": true, "RemoveSnapshot_Task": true, "CloneVM_Task": true,
		"RegisterVM_Task": true, "ImportVApp": true, "PutUsbScanCodes": true,
	}
)

const envelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`

func front(next http.Handler, free bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/desktopvm/keys" {
			keysMu.Lock()
			defer keysMu.Unlock()
			_ = json.NewEncoder(w).Encode(append([]int64{}, keysSeen...))
			return
		}
		if r.URL.Path == "/desktopvm/nfc" {
			nfcMu.Lock()
			defer nfcMu.Unlock()
			_ = json.NewEncoder(w).Encode(nfcBytes)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/nfc/") && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			var n int64
			r.Body = counter{r.Body, &n}
			next.ServeHTTP(w, r)
			nfcMu.Lock()
			nfcBytes[r.URL.Path] += n
			nfcMu.Unlock()
			return
		}
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		name := ""
		if m := method.FindSubmatch(body); m != nil {
			name = string(m[1])
		}
		_, noSession := r.Cookie("vmware_soap_session")
		if noSession == nil && free && writeOps[name] {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Current license or ESXi version prohibits execution of the requested operation.</faultstring><detail><RestrictedVersionFault xmlns="urn:vim25" xsi:type="RestrictedVersion"></RestrictedVersionFault></detail></soapenv:Fault>`)
			return
		}
		if noSession == nil && name == "PutUsbScanCodes" {
			codes := hidCode.FindAllSubmatch(body, -1)
			keysMu.Lock()
			for _, c := range codes {
				var v int64
				fmt.Sscan(string(c[1]), &v)
				keysSeen = append(keysSeen, v)
			}
			keysMu.Unlock()
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			fmt.Fprintf(w, envelope, fmt.Sprintf(`<PutUsbScanCodesResponse xmlns="urn:vim25"><returnval>%d</returnval></PutUsbScanCodesResponse>`, len(codes)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func main() {
	vpx := flag.Bool("vpx", false, "vCenter (clusters, several hosts) instead of one standalone ESXi")
	addr := flag.String("l", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("cert", "", "PEM certificate (TLS); empty: plain http")
	keyFile := flag.String("key", "", "PEM private key of -cert")
	user := flag.String("username", "root", "the only user name that logs in")
	password := flag.String("password", "", "its password (required)")
	vms := flag.Int("vm", 2, "machines per resource pool")
	hosts := flag.Int("host", 3, "hosts per cluster (vCenter)")
	free := flag.Bool("free", false, "a free-licence host: every write is RestrictedVersion")
	flag.Parse()
	if *password == "" {
		log.Fatal("-password is required")
	}

	model := simulator.ESX()
	if *vpx {
		model = simulator.VPX()
		model.ClusterHost = *hosts
	}
	model.Machine = *vms
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()
	if *free {
		licences := simulator.Map.Get(*model.ServiceContent.LicenseManager).(*simulator.LicenseManager)
		licences.Licenses = []types.LicenseManagerLicenseInfo{{
			LicenseKey: "00000-00000-00000-00000-00000", EditionKey: "esxBasic",
			Name: "VMware vSphere 7 Hypervisor", Total: 0, CostUnit: "cpuPackage",
		}}
	}

	model.Service.Listen = &url.URL{Host: *addr, User: url.UserPassword(*user, *password)}
	if *certFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	server := model.Service.NewServer()
	defer server.Close()
	// No client knows the address before the line below is printed, so no request is being
	// served while the handler is swapped.
	server.Config.Handler = front(server.Config.Handler, *free)

	shown := *server.URL
	shown.User = nil
	fmt.Println(shown.String())

	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(done)
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-done:
	case <-signals:
	}
}
