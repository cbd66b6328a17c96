"""The ESXi stand-in: govmomi's vSphere simulator (vcsim), built by .ci/vcsim, and its runner."""
