package activities

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"abc", "'abc'"},
		{"it's", `'it'\''s'`},
		{"''", `''\'''\'''`},
		{"a b;$(rm -rf /)", "'a b;$(rm -rf /)'"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestStartCommand(t *testing.T) {
	cfg := map[string]string{
		"cluster": "c1", "cluster_id": "7", "zone": "zone1", "local_ip": "10.0.0.1", "data_dir": "/home/admin/ob/store",
		"mysql_port": "2881", "rpc_port": "2882", "memory_limit": "16G", "system_memory": "8G",
		"homePath": "/x", "redo_dir": "/r", "rootPwd": "secret", "bad-key": "v",
	}
	got := startCommand("/home/admin/ob", cfg)
	want := "export LD_LIBRARY_PATH='/home/admin/ob/lib'; /home/admin/ob/bin/observer  -n 'c1' -c '7' -z 'zone1' -I '10.0.0.1' -d '/home/admin/ob/store' -p '2881' -P '2882'  -o 'memory_limit=16G,system_memory=8G'"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// No extra options: obshell's format leaves two trailing blanks.
	got = startCommand("/h", map[string]string{"cluster": "c"})
	if want := "export LD_LIBRARY_PATH='/h/lib'; /h/bin/observer  -n 'c'  "; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestStartCommandArgv checks that bash splits the command line into
// exactly startArgs, including values with quotes and blanks: that is what
// the idempotency check compares with /proc/<pid>/cmdline.
func TestStartCommandArgv(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]string
		want []string
	}{
		{"plain", map[string]string{"cluster": "c1", "cluster_id": "1", "zone": "z", "mysql_port": "2881", "rpc_port": "2882"},
			[]string{"-n", "c1", "-c", "1", "-z", "z", "-p", "2881", "-P", "2882"}},
		{"quotes and blanks", map[string]string{"cluster": "it's a 'c'", "zone": `z"1`, "__min_full_resource_pool_memory": "1G", "x": "a b'c"},
			[]string{"-n", "it's a 'c'", "-z", `z"1`, "-o", "__min_full_resource_pool_memory=1G,x=a b'c"}},
		{"ipv6 and all flags", map[string]string{"local_ip": "::1", "devname": "lo", "syslog_level": "INFO", "rootservice_list": "[::1]:2882:2881", "data_dir": "/d"},
			[]string{"-I", "::1", "-i", "lo", "-d", "/d", "-l", "INFO", "-r", "[::1]:2882:2881", "--ipv6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := startArgs(tt.cfg); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("startArgs = %q, want %q", got, tt.want)
			}
			// Let bash print the argv it would give the observer.
			cmd := strings.Replace(startCommand("/h", tt.cfg), "/h/bin/observer", `printf '%s\0'`, 1)
			out, err := exec.Command("/bin/bash", "-c", cmd).Output()
			if err != nil {
				t.Fatal(err)
			}
			argv := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if !reflect.DeepEqual(argv, tt.want) {
				t.Fatalf("bash argv = %q, want %q", argv, tt.want)
			}
		})
	}
}

func TestFirstStartConfig(t *testing.T) {
	base := map[string]string{"cluster": "c", "cluster_id": "1", "zone": "z", "mysql_port": "2881", "rpc_port": "2882"}
	got, err := firstStartConfig(base, "10.0.0.1", "/h")
	if err != nil {
		t.Fatal(err)
	}
	if got["local_ip"] != "10.0.0.1" || got["data_dir"] != "/h/store" || len(base) != 5 {
		t.Fatalf("got %v (input changed: %v)", got, len(base) != 5)
	}
	for _, k := range requiredStartItems {
		cfg := map[string]string{}
		for kk, v := range base {
			if kk != k {
				cfg[kk] = v
			}
		}
		if _, err := firstStartConfig(cfg, "10.0.0.1", "/h"); err == nil || err.Error() != "config "+k+" is required" {
			t.Errorf("without %s: %v", k, err)
		}
	}
}
