package obcluster

import "testing"

func TestArchitecture(t *testing.T) {
	for goarch, want := range map[string]string{"amd64": "x86_64", "arm64": "aarch64", "riscv64": "riscv64", "ppc64le": "ppc64le"} {
		if got := Architecture(goarch); got != want {
			t.Errorf("Architecture(%q) = %q, want %q", goarch, got, want)
		}
	}
}
