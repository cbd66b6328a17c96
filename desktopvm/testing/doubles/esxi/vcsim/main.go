// A vSphere API server for DesktopVM's ESXi tests: govmomi's simulator (Debian's
// golang-github-vmware-govmomi-dev) on a loopback port, with TLS from the given key pair.
//
// It prints one line, the SDK URL (no credentials), and serves until its standard input closes
// or it gets a signal. Additions, answered in front of the simulator's own handlers
// because 0.24 has no such method or rule (docs/esxi.md says what each proves):
//   - PutUsbScanCodes on a VirtualMachine (vSphere 6.5+): counted, and the HID codes kept for
//     GET /desktopvm/keys (the tests read what the backend typed);
//   - CreateScreenshot_Task on a running VirtualMachine: a simulator task that writes a PNG
//     (320x200, a known pattern) into the machine's folder on the datastore and names it by
//     its datastore path, as ESXi does; the simulator's own /folder handler serves it;
//   - AcquireTicket("webmks") on a running VirtualMachine: a ticket whose url is the WebSocket
//     endpoint a test set with POST /desktopvm/webmks (its body: the URL up to /ticket/) plus
//     the ticket; the tickets issued are listed by GET /desktopvm/tickets, so the test's
//     endpoint admits only those;
//   - -free: the host reports the free licence's edition and refuses every write method with
//     RestrictedVersion, the fault a free-licence ESXi returns;
//   - the bytes each NFC upload (an OVF import's disk) carried, for GET /desktopvm/nfc; and
//     the bytes themselves, written into the imported machine's disk file on the datastore
//     (the simulator itself discards them), so what was imported can be exported again;
//   - ExportVm on a powered-off VirtualMachine: an HttpNfcLease (a Go object in the
//     simulator's registry, so its properties and methods are the simulator's own SOAP
//     handling) whose device URLs serve each disk file by GET, as ESXi's NFC does; what the
//     lease heard (HttpNfcLeaseProgress, Complete, Abort) is kept for GET /desktopvm/leases;
//   - /folder (datastore files over HTTP): answered only with a session cookie (401
//     without, as ESXi refuses a client that has not logged in); each PUT is counted per
//     path for GET /desktopvm/folder, so a test sees whether an upload was sent again;
//   - RevertToSnapshot_Task brings back the CPUs, memory and notes the snapshot's configuration
//     holds (0.24's own revert only moves snapshot.currentSnapshot); see revertConfig;
//   - snapshots freeze the disks (0.24's leave them as they are): CreateSnapshot_Task copies
//     each disk file of the machine aside before the simulator takes the snapshot, and
//     ExportSnapshot on a VirtualMachineSnapshot (vSphere API 5.5) answers with an export lease
//     like ExportVm's that serves those copies — the disks as they were when the snapshot was
//     taken; removing the snapshot removes them. While a lease serves a snapshot, removing it
//     fails (InvalidState: "while the lease is held, operations that alter the state of the
//     virtual machines covered by the lease are blocked", HttpNfcLease);
//   - POST /desktopvm/fail with SOAP method names (space-separated; empty: none): each call of
//     those gets a task that fails (SystemError) — only RemoveSnapshot_Task is wired so far;
//   - QueryConfigOptionEx: 0.24 sends each guest descriptor's recommendedDiskController empty,
//     which no host does and pyVmomi cannot read (a type name), so the empty element is left
//     out; POST /desktopvm/environment with a VirtualMachineConfigOption's XML (the inside of
//     <returnval>; empty: the simulator's own) answers it instead — an older or different host.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
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
	thisRef    = regexp.MustCompile(`<_this[^>]*>([^<]+)</_this>`)
	leaseRef   = regexp.MustCompile(`<returnval[^>]*>([^<]+)</returnval>`)
	importName = regexp.MustCompile(`(?s)<configSpec>.*?<name>([^<]+)</name>`)

	leasesMu    sync.Mutex
	exportFiles = map[string]map[string]string{} // export lease -> device file name -> local path
	importFiles = map[string]map[string]string{} // import lease -> device file name -> local path
	leaseEvents = map[string][]string{}          // lease -> "progress N", "complete", "abort"
	leaseCount  int

	snapshotDisks = map[string]map[string]string{} // snapshot -> disk file name -> its frozen copy
	snapshotLease = map[string]string{}            // export lease -> the snapshot it serves
	failing       = map[string]bool{}              // SOAP methods POST /desktopvm/fail made fail

	folderMu   sync.Mutex
	folderPuts = map[string]int{} // /folder/PATH -> PUT requests received
)

// exportLease is the HttpNfcLease ExportVm returns: its properties are read and its methods
// called through the simulator's registry like any of its own objects.
type exportLease struct {
	mo.HttpNfcLease
}

func heard(lease types.ManagedObjectReference, event string) {
	leasesMu.Lock()
	defer leasesMu.Unlock()
	leaseEvents[lease.Value] = append(leaseEvents[lease.Value], event)
}

func (l *exportLease) end(lease types.ManagedObjectReference, event string) {
	heard(lease, event)
	leasesMu.Lock()
	delete(exportFiles, lease.Value)
	delete(snapshotLease, lease.Value)
	leasesMu.Unlock()
	simulator.Map.Remove(lease)
}

func (l *exportLease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	l.end(req.This, "complete")
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

func (l *exportLease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	l.end(req.This, "abort")
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func (l *exportLease) HttpNfcLeaseProgress(ctx *simulator.Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	l.TransferProgress = req.Percent
	heard(req.This, fmt.Sprintf("progress %d", req.Percent))
	return &methods.HttpNfcLeaseProgressBody{Res: new(types.HttpNfcLeaseProgressResponse)}
}

// diskFiles maps each disk's file name to where the simulator keeps it on this computer.
func diskFiles(vm *simulator.VirtualMachine) (map[string]string, []types.HttpNfcLeaseDeviceUrl) {
	files := map[string]string{}
	var urls []types.HttpNfcLeaseDeviceUrl
	simulator.Map.WithLock(vm, func() {
		for n, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			backing, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo)
			if !ok {
				continue
			}
			var file object.DatastorePath
			file.FromString(backing.GetVirtualDeviceFileBackingInfo().FileName)
			for _, e := range simulator.Map.All("Datastore") {
				ds := e.(*simulator.Datastore)
				if ds.Name != file.Datastore {
					continue
				}
				local := ds.Info.GetDatastoreInfo().Url + "/" + file.Path
				name := file.Path[strings.LastIndex(file.Path, "/")+1:]
				files[name] = local
				var size int64
				if st, err := os.Stat(local); err == nil {
					size = st.Size()
				}
				urls = append(urls, types.HttpNfcLeaseDeviceUrl{
					Key: fmt.Sprintf("/%s/VirtualLsiLogicController0:0:%d", vm.Self.Value, n),
					Url: url.PathEscape(name), Disk: types.NewBool(true),
					TargetId: fmt.Sprintf("disk-%d.vmdk", n), FileSize: size,
				})
			}
		}
	})
	return files, urls
}

func exportVm(body []byte) string {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return ""
	}
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: string(m[1])}
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return fmt.Sprintf(envelope, fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>managed object not found: %s</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">%s</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>`, ref.Value, ref.Value))
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		return fmt.Sprintf(envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The attempted operation cannot be performed in the current state (Powered on).</faultstring><detail><InvalidStateFault xmlns="urn:vim25" xsi:type="InvalidState"></InvalidStateFault></detail></soapenv:Fault>`)
	}
	files, urls := diskFiles(vm)
	if fault := streamable(vm, files, urls); fault != "" {
		return fmt.Sprintf(envelope, fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><reason>%s</reason></SystemErrorFault></detail></soapenv:Fault>`, fault, fault))
	}
	id := newLease("export", ref, files, urls)
	return fmt.Sprintf(envelope, fmt.Sprintf(`<ExportVmResponse xmlns="urn:vim25"><returnval type="HttpNfcLease">%s</returnval></ExportVmResponse>`, id))
}

// newLease puts a ready export lease on `entity` in the registry, serving `files` (device file
// name -> local path) at `urls`; its id.
func newLease(kind string, entity types.ManagedObjectReference, files map[string]string, urls []types.HttpNfcLeaseDeviceUrl) string {
	leasesMu.Lock()
	leaseCount++
	id := fmt.Sprintf("desktopvm-%s-%d", kind, leaseCount)
	exportFiles[id] = files
	leasesMu.Unlock()
	lease := &exportLease{}
	lease.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: id}
	lease.State = types.HttpNfcLeaseStateReady
	lease.Info = &types.HttpNfcLeaseInfo{Lease: lease.Self, Entity: entity, LeaseTimeout: 300}
	for i := range urls {
		urls[i].Url = "https://*/nfc/" + id + "/" + urls[i].Url
	}
	lease.Info.DeviceUrl = urls
	simulator.Map.Put(lease)
	return id
}

// freeze copies each disk file of the machine CreateSnapshot_Task names aside, before the
// simulator takes the snapshot: what a snapshot freezes on ESXi (the machine goes on writing
// into new delta disks). 0.24's own snapshot leaves the machine writing into the same files.
func freeze(body []byte) map[string]string {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return nil
	}
	vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: string(m[1])}).(*simulator.VirtualMachine)
	if !ok {
		return nil
	}
	files, _ := diskFiles(vm)
	leasesMu.Lock()
	leaseCount++
	n := leaseCount
	leasesMu.Unlock()
	copies := map[string]string{}
	for name, local := range files {
		frozen := fmt.Sprintf("%s.desktopvm-snapshot-%d", local, n)
		if copyFile(local, frozen) == nil {
			copies[name] = frozen
		}
	}
	return copies
}

// copyFile copies src (a disk the simulator made and never wrote may not exist: empty) to dst.
func copyFile(src, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	in, err := os.Open(src)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	defer in.Close()
	_, err = io.Copy(out, in)
	return err
}

// frozen keeps the copies under the snapshot the task in CreateSnapshot_Task's response made
// (the simulator's tasks end before their call returns), or removes them if it made none.
func frozen(copies map[string]string, response []byte) {
	if m := leaseRef.FindSubmatch(response); m != nil {
		task, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "Task", Value: string(m[1])}).(*simulator.Task)
		if ok && task.Info.State == types.TaskInfoStateSuccess {
			if snap, ok := task.Info.Result.(types.ManagedObjectReference); ok {
				leasesMu.Lock()
				snapshotDisks[snap.Value] = copies
				leasesMu.Unlock()
				return
			}
		}
	}
	for _, f := range copies {
		_ = os.Remove(f)
	}
}

// exportSnapshot answers ExportSnapshot with a lease like ExportVm's (the machine's disks in
// its device order, each a stream-optimized VMDK) serving the copies freeze made.
func exportSnapshot(body []byte) string {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return ""
	}
	ref := types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: string(m[1])}
	snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
	leasesMu.Lock()
	copies := snapshotDisks[ref.Value]
	leasesMu.Unlock()
	if !ok || copies == nil {
		return fmt.Sprintf(envelope, fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>managed object not found: %s</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachineSnapshot">%s</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>`, ref.Value, ref.Value))
	}
	vm := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
	_, all := diskFiles(vm)
	files := map[string]string{}
	var urls []types.HttpNfcLeaseDeviceUrl
	for _, u := range all {
		name, _ := url.PathUnescape(u.Url)
		if copies[name] == "" {
			continue // a disk added after the snapshot is not in it
		}
		files[name] = copies[name]
		if st, err := os.Stat(copies[name]); err == nil {
			u.FileSize = st.Size()
		}
		urls = append(urls, u)
	}
	if fault := streamable(vm, files, urls); fault != "" {
		return fmt.Sprintf(envelope, fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><reason>%s</reason></SystemErrorFault></detail></soapenv:Fault>`, fault, fault))
	}
	id := newLease("snapshot-export", snap.Vm, files, urls)
	leasesMu.Lock()
	snapshotLease[id] = ref.Value
	leasesMu.Unlock()
	return fmt.Sprintf(envelope, fmt.Sprintf(`<ExportSnapshotResponse xmlns="urn:vim25"><returnval type="HttpNfcLease">%s</returnval></ExportSnapshotResponse>`, id))
}

// refusedRemoval answers RemoveSnapshot_Task with a task that fails when the test asked for
// failures (POST /desktopvm/fail) or a lease still serves the snapshot ("" otherwise).
func refusedRemoval(body []byte) string {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return ""
	}
	ref := types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: string(m[1])}
	snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
	if !ok {
		return ""
	}
	var fault types.BaseMethodFault
	leasesMu.Lock()
	if failing["RemoveSnapshot_Task"] {
		fault = &types.SystemError{Reason: "removing snapshots fails (the test's POST /desktopvm/fail)"}
	}
	for _, served := range snapshotLease {
		if served == ref.Value {
			fault = &types.InvalidState{}
		}
	}
	leasesMu.Unlock()
	if fault == nil {
		return ""
	}
	task := simulator.CreateTask(snap, "removeSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	})
	return fmt.Sprintf(envelope, fmt.Sprintf(`<RemoveSnapshot_TaskResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></RemoveSnapshot_TaskResponse>`, task.Run().Value))
}

// forgetRemoved deletes the frozen copies of snapshots the simulator no longer has.
func forgetRemoved() {
	leasesMu.Lock()
	defer leasesMu.Unlock()
	for id, copies := range snapshotDisks {
		if simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: id}) != nil {
			continue
		}
		for _, f := range copies {
			_ = os.Remove(f)
			_ = os.Remove(f + ".desktopvm-stream.vmdk") // what streamable made of a copy
		}
		delete(snapshotDisks, id)
	}
}

// relay serves the request through the simulator, hands its answer to `after`, then sends it.
func relay(next http.Handler, w http.ResponseWriter, r *http.Request, after func([]byte)) {
	recorder := httptest.NewRecorder()
	next.ServeHTTP(recorder, r)
	after(recorder.Body.Bytes())
	for k, v := range recorder.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(recorder.Code)
	_, _ = w.Write(recorder.Body.Bytes())
}

// streamable makes each disk the lease serves a stream-optimized VMDK, the form ESXi's export
// streams: a disk an import uploaded is one already; a disk the simulator made holds no bytes,
// so an empty one of the disk's capacity is made with qemu-img beside it (its sizes updated).
func streamable(vm *simulator.VirtualMachine, files map[string]string, urls []types.HttpNfcLeaseDeviceUrl) string {
	capacity := map[string]int64{}
	simulator.Map.WithLock(vm, func() {
		for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				var file object.DatastorePath
				file.FromString(b.GetVirtualDeviceFileBackingInfo().FileName)
				capacity[file.Path[strings.LastIndex(file.Path, "/")+1:]] = d.(*types.VirtualDisk).CapacityInKB * 1024
			}
		}
	})
	for name, local := range files {
		head := make([]byte, 4)
		if f, err := os.Open(local); err == nil {
			_, _ = io.ReadFull(f, head)
			f.Close()
		}
		if string(head) == "KDMV" {
			continue
		}
		stream := local + ".desktopvm-stream.vmdk"
		_ = os.Remove(stream)
		out, err := exec.Command("qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized",
			stream, fmt.Sprint(capacity[name])).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("cannot stream %s: %v %s", name, err, out)
		}
		files[name] = stream
		if st, err := os.Stat(stream); err == nil {
			for i := range urls {
				if urls[i].Url == url.PathEscape(name) {
					urls[i].FileSize = st.Size()
				}
			}
		}
	}
	return ""
}

var (
	screenshots int
	webmksBase  string   // where the test's WebSocket endpoint listens, up to /ticket/
	tickets     []string // the webmks tickets issued, in order
	ticketKind  = regexp.MustCompile(`<ticketType[^>]*>([^<]*)</ticketType>`)
)

// acquireTicket answers AcquireTicket("webmks") for a running machine.
func acquireTicket(body []byte) string {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return ""
	}
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: string(m[1])}
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	kind := ticketKind.FindSubmatch(body)
	if !ok || kind == nil || string(kind[1]) != "webmks" {
		return fmt.Sprintf(envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>A specified parameter was not correct: ticketType</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"><invalidProperty>ticketType</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault>`)
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return fmt.Sprintf(envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The attempted operation cannot be performed in the current state (Powered off).</faultstring><detail><InvalidPowerStateFault xmlns="urn:vim25" xsi:type="InvalidPowerState"><existingState>poweredOff</existingState></InvalidPowerStateFault></detail></soapenv:Fault>`)
	}
	leasesMu.Lock()
	ticket := fmt.Sprintf("desktopvm-webmks-%d-%s", len(tickets)+1, ref.Value)
	tickets = append(tickets, ticket)
	base := webmksBase
	leasesMu.Unlock()
	parts, _ := url.Parse(base)
	host, port := "127.0.0.1", "443"
	if parts != nil && parts.Hostname() != "" {
		host, port = parts.Hostname(), parts.Port()
	}
	return fmt.Sprintf(envelope, fmt.Sprintf(`<AcquireTicketResponse xmlns="urn:vim25"><returnval><ticket>%s</ticket><cfgFile>%s</cfgFile><host>%s</host><port>%s</port><url>%s%s</url></returnval></AcquireTicketResponse>`, ticket, vm.Config.Files.VmPathName, host, port, base, ticket))
}

// screenshot answers CreateScreenshot_Task with a task that writes a PNG beside the machine.
func screenshot(body []byte) string {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return ""
	}
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: string(m[1])}
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return fmt.Sprintf(envelope, fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>managed object not found: %s</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">%s</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>`, ref.Value, ref.Value))
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return fmt.Sprintf(envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The attempted operation cannot be performed in the current state (Powered off).</faultstring><detail><InvalidPowerStateFault xmlns="urn:vim25" xsi:type="InvalidPowerState"><existingState>poweredOff</existingState></InvalidPowerStateFault></detail></soapenv:Fault>`)
	}
	var vmx object.DatastorePath
	vmx.FromString(vm.Config.Files.VmPathName)
	folder := vmx.Path[:strings.LastIndex(vmx.Path, "/")+1]
	leasesMu.Lock()
	screenshots++
	name := fmt.Sprintf("%s%s-%d.png", folder, vm.Name, screenshots)
	leasesMu.Unlock()
	task := simulator.CreateTask(vm, "createScreenshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		for _, e := range simulator.Map.All("Datastore") {
			ds := e.(*simulator.Datastore)
			if ds.Name != vmx.Datastore {
				continue
			}
			picture := image.NewRGBA(image.Rect(0, 0, 320, 200))
			for y := 0; y < 200; y++ {
				for x := 0; x < 320; x++ {
					picture.Set(x, y, color.RGBA{uint8(x), uint8(y), 0x80, 0xff})
				}
			}
			f, err := os.Create(ds.Info.GetDatastoreInfo().Url + "/" + name)
			if err == nil {
				err = png.Encode(f, picture)
				f.Close()
			}
			if err != nil {
				return nil, &types.FileFault{File: name}
			}
			return fmt.Sprintf("[%s] %s", vmx.Datastore, name), nil
		}
		return nil, &types.FileNotFound{FileFault: types.FileFault{File: vmx.Datastore}}
	})
	id := task.Run()
	return fmt.Sprintf(envelope, fmt.Sprintf(`<CreateScreenshot_TaskResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></CreateScreenshot_TaskResponse>`, id.Value))
}

// revertConfig gives the machine of the snapshot RevertToSnapshot_Task names the CPUs, memory
// and notes of the snapshot's configuration, before the simulator's own handler moves the
// current snapshot. vSphere: a snapshot's config is "information about the configuration of
// this virtual machine when this snapshot was taken" (vim.vm.Snapshot), and reverting changes
// the machine "to the state of this snapshot" (RevertToSnapshot_Task); 0.24 keeps that copy
// (CreateSnapshotTask: snapshot.Config = *vm.Config) but its revert does not use it. Devices
// are not brought back: the copy shares its device objects with the machine.
func revertConfig(body []byte) {
	m := thisRef.FindSubmatch(body)
	if m == nil {
		return
	}
	ref := types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: string(m[1])}
	snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
	if !ok {
		return // the simulator's handler answers with its fault
	}
	vm, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	then := snap.Config
	simulator.Map.WithLock(vm, func() {
		vm.Config.Hardware.NumCPU = then.Hardware.NumCPU
		vm.Config.Hardware.NumCoresPerSocket = then.Hardware.NumCoresPerSocket
		vm.Config.Hardware.MemoryMB = then.Hardware.MemoryMB
		vm.Config.Annotation = then.Annotation
		vm.Summary.Config.NumCpu = then.Hardware.NumCPU
		vm.Summary.Config.MemorySizeMB = then.Hardware.MemoryMB
		vm.Summary.Config.Annotation = then.Annotation
	})
}

// remember notes where an import lease's uploads belong: the disk files of the machine
// ImportVApp made (found by the name its import spec gave).
func remember(request []byte, response []byte) {
	lm, nm := leaseRef.FindSubmatch(response), importName.FindSubmatch(request)
	if lm == nil || nm == nil {
		return
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if vm.Name == string(nm[1]) {
			files, _ := diskFiles(vm)
			leasesMu.Lock()
			importFiles[string(lm[1])] = files
			leasesMu.Unlock()
		}
	}
}

// nfcFile is the local file behind an NFC URL of our leases ("" when not ours).
func nfcFile(table map[string]map[string]string, urlPath string) string {
	parts := strings.Split(urlPath, "/")
	if len(parts) < 2 {
		return ""
	}
	leasesMu.Lock()
	defer leasesMu.Unlock()
	return table[parts[len(parts)-2]][parts[len(parts)-1]]
}

const envelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`

var (
	environmentMu     sync.Mutex
	environmentAnswer string
)

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
		if r.URL.Path == "/desktopvm/webmks" && r.Method == http.MethodPost {
			target, _ := io.ReadAll(r.Body)
			leasesMu.Lock()
			webmksBase = string(target)
			leasesMu.Unlock()
			return
		}
		if r.URL.Path == "/desktopvm/tickets" {
			leasesMu.Lock()
			defer leasesMu.Unlock()
			_ = json.NewEncoder(w).Encode(append([]string{}, tickets...))
			return
		}
		if r.URL.Path == "/desktopvm/folder" {
			folderMu.Lock()
			defer folderMu.Unlock()
			_ = json.NewEncoder(w).Encode(folderPuts)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/folder") {
			if _, err := r.Cookie("vmware_soap_session"); err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method == http.MethodPut {
				folderMu.Lock()
				folderPuts[r.URL.Path]++
				folderMu.Unlock()
			}
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/desktopvm/fail" && r.Method == http.MethodPost {
			names, _ := io.ReadAll(r.Body)
			leasesMu.Lock()
			failing = map[string]bool{}
			for _, n := range strings.Fields(string(names)) {
				failing[n] = true
			}
			leasesMu.Unlock()
			return
		}
		if r.URL.Path == "/desktopvm/environment" && r.Method == http.MethodPost {
			option, _ := io.ReadAll(r.Body)
			environmentMu.Lock()
			environmentAnswer = string(option)
			environmentMu.Unlock()
			return
		}
		if r.URL.Path == "/desktopvm/leases" {
			leasesMu.Lock()
			defer leasesMu.Unlock()
			_ = json.NewEncoder(w).Encode(leaseEvents)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/nfc/") && r.Method == http.MethodGet {
			if local := nfcFile(exportFiles, r.URL.Path); local != "" {
				// Lease URLs carry no session check on ESXi either: the lease id is the ticket.
				http.ServeFile(w, r, local)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/nfc/") && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			var n int64
			r.Body = counter{r.Body, &n}
			if local := nfcFile(importFiles, r.URL.Path); local != "" {
				f, err := os.Create(local)
				if err == nil {
					_, err = io.Copy(f, r.Body)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					w.WriteHeader(http.StatusInternalServerError)
				}
			} else {
				next.ServeHTTP(w, r)
			}
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
		if noSession == nil && name == "ExportVm" {
			if answer := exportVm(body); answer != "" {
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				if strings.Contains(answer, "<soapenv:Fault>") {
					w.WriteHeader(http.StatusInternalServerError)
				}
				fmt.Fprint(w, answer)
				return
			}
		}
		if noSession == nil && name == "AcquireTicket" {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			answer := acquireTicket(body)
			if strings.Contains(answer, "<soapenv:Fault>") {
				w.WriteHeader(http.StatusInternalServerError)
			}
			fmt.Fprint(w, answer)
			return
		}
		if noSession == nil && name == "CreateScreenshot_Task" {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			answer := screenshot(body)
			if strings.Contains(answer, "<soapenv:Fault>") {
				w.WriteHeader(http.StatusInternalServerError)
			}
			fmt.Fprint(w, answer)
			return
		}
		if noSession == nil && (name == "ExportSnapshot" || name == "RemoveSnapshot_Task") {
			var answer string
			if name == "ExportSnapshot" {
				answer = exportSnapshot(body)
			} else {
				answer = refusedRemoval(body)
			}
			if answer != "" {
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				if strings.Contains(answer, "<soapenv:Fault>") {
					w.WriteHeader(http.StatusInternalServerError)
				}
				fmt.Fprint(w, answer)
				return
			}
		}
		if noSession == nil && name == "CreateSnapshot_Task" {
			copies := freeze(body)
			relay(next, w, r, func(answer []byte) { frozen(copies, answer) })
			return
		}
		if noSession == nil && (name == "RemoveSnapshot_Task" || name == "RemoveAllSnapshots_Task" || name == "Destroy_Task") {
			relay(next, w, r, func([]byte) { forgetRemoved() })
			return
		}
		if noSession == nil && name == "QueryConfigOptionEx" {
			environmentMu.Lock()
			option := environmentAnswer
			environmentMu.Unlock()
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			if option != "" {
				fmt.Fprintf(w, envelope, `<QueryConfigOptionExResponse xmlns="urn:vim25"><returnval>`+option+`</returnval></QueryConfigOptionExResponse>`)
				return
			}
			recorder := httptest.NewRecorder()
			next.ServeHTTP(recorder, r)
			w.WriteHeader(recorder.Code)
			_, _ = w.Write(bytes.ReplaceAll(recorder.Body.Bytes(), []byte("<recommendedDiskController></recommendedDiskController>"), nil))
			return
		}
		if noSession == nil && name == "RevertToSnapshot_Task" {
			revertConfig(body)
		}
		if noSession == nil && name == "ImportVApp" {
			recorder := httptest.NewRecorder()
			next.ServeHTTP(recorder, r)
			remember(body, recorder.Body.Bytes())
			for k, v := range recorder.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(recorder.Code)
			_, _ = w.Write(recorder.Body.Bytes())
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
	delay := flag.Int("delay", 0, "milliseconds added to every SOAP call (a network and server's latency; bench/)")
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
	model.DelayConfig.Delay = *delay
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
