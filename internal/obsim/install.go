package obsim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// BuildBinary builds ./cmd/observer-sim of the enclosing module once per
// process and returns the path of the binary. It works from any package
// directory: the module root comes from `go env GOMOD`. The binary is kept
// in one file per module under the temp dir, replaced atomically, so
// parallel test processes do not trip over each other.
func BuildBinary() (string, error) {
	build.once.Do(func() { build.path, build.err = buildBinary() })
	return build.path, build.err
}

func buildBinary() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: cannot find cmd/observer-sim")
	}
	root := filepath.Dir(gomod)
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "obsim-build-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "observer-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/observer-sim")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("go build ./cmd/observer-sim: %w\n%s", err, out)
	}
	// Renaming is atomic, so whoever links or runs final always gets a
	// complete binary, even while another process replaces it with its own
	// (identical) build.
	final := filepath.Join(dir, "observer")
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return final, nil
}

// Install puts the simulator at <home>/bin/observer (building it once per
// process); see InstallBinary.
func Install(home string) error {
	bin, err := BuildBinary()
	if err != nil {
		return err
	}
	return InstallBinary(home, bin)
}

// InstallBinary puts bin at <home>/bin/observer, with the stand-in for
// bin/import_time_zone_info.py and etc/timezone_V1.log. It hard-links when it can
// (an observer started from it keeps working after `go run` deletes its
// temporary binary) and copies otherwise; it never symlinks, because the
// observer finds its home from the path it was started by and a symlinked
// binary would still work but confuse readers of /proc/<pid>/exe. The file
// is replaced atomically, since an observer may be running from the old one.
func InstallBinary(home, bin string) error {
	dst := filepath.Join(home, "bin", "observer")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	src, err := os.Stat(bin)
	if err != nil {
		return err
	}
	if err := installTimeZoneFiles(home); err != nil {
		return err
	}
	if cur, err := os.Stat(dst); err == nil && os.SameFile(src, cur) {
		return nil
	}
	tmp := dst + ".new"
	os.Remove(tmp)
	if err := os.Link(bin, tmp); err != nil {
		if err := copyFile(bin, tmp); err != nil {
			return err
		}
	}
	return os.Rename(tmp, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
