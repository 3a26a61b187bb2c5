package obsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Options is what one observer start is configured with: the command line
// merged over the config saved by the first start.
type Options struct {
	ClusterName     string            `json:"cluster_name"`
	ClusterID       string            `json:"cluster_id"`
	Zone            string            `json:"zone"`
	DataDir         string            `json:"data_dir"`
	LocalIP         string            `json:"local_ip"`
	DevName         string            `json:"devname"`
	MySQLPort       int               `json:"mysql_port"`
	RPCPort         int               `json:"rpc_port"`
	SyslogLevel     string            `json:"syslog_level"`
	RootServiceList string            `json:"rootservice_list"`
	IPv6            bool              `json:"ipv6"`
	Params          map[string]string `json:"params"` // from -o 'k1=v1,k2=v2'
}

// longToShort maps observer's long option names (its getopt_long table) to
// the one-letter options obshell uses; every one of them takes a value.
var longToShort = map[string]byte{
	"appname":          'n',
	"cluster_id":       'c',
	"zone":             'z',
	"data_dir":         'd',
	"local_ip":         'I',
	"devname":          'i',
	"mysql_port":       'p',
	"rpc_port":         'P',
	"syslog_level":     'l',
	"rs_list":          'r',
	"optstr":           'o',
	"rootservice_list": 'r',
}

// ParseArgs parses observer's command line (without the program name). Like
// getopt it accepts "-n c1", "-nc1", "--zone=z1" and "--zone z1", flags in any
// order; a value may appear at most once per flag, the last one wins as with
// getopt. Unknown flags and stray positional arguments are errors.
func ParseArgs(args []string) (Options, error) {
	var o Options
	for i := 0; i < len(args); i++ {
		a := args[i]
		var flag byte
		var val string
		hasVal := false
		switch {
		case a == "--ipv6" || a == "-6":
			o.IPv6 = true
			continue
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name := a[2:]
			if k, v, ok := strings.Cut(name, "="); ok {
				name, val, hasVal = k, v, true
			}
			f, ok := longToShort[name]
			if !ok {
				return Options{}, fmt.Errorf("unrecognized option '--%s'", name)
			}
			flag = f
		case strings.HasPrefix(a, "-") && len(a) >= 2:
			flag = a[1]
			if len(a) > 2 {
				val, hasVal = a[2:], true
			}
			if !strings.ContainsRune("nczdIiPplro", rune(flag)) {
				return Options{}, fmt.Errorf("invalid option -- '%c'", flag)
			}
		default:
			return Options{}, fmt.Errorf("unexpected argument %q", a)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return Options{}, fmt.Errorf("option requires an argument -- '%c'", flag)
			}
			i++
			val = args[i]
		}
		if err := o.set(flag, val); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

func (o *Options) set(flag byte, val string) error {
	switch flag {
	case 'n':
		o.ClusterName = val
	case 'c':
		o.ClusterID = val
	case 'z':
		o.Zone = val
	case 'd':
		o.DataDir = val
	case 'I':
		o.LocalIP = val
	case 'i':
		o.DevName = val
	case 'l':
		o.SyslogLevel = val
	case 'r':
		o.RootServiceList = val
	case 'p', 'P':
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port %q for -%c", val, flag)
		}
		if flag == 'p' {
			o.MySQLPort = n
		} else {
			o.RPCPort = n
		}
	case 'o':
		params, err := parseOptStr(val)
		if err != nil {
			return err
		}
		if o.Params == nil {
			o.Params = map[string]string{}
		}
		for k, v := range params {
			o.Params[k] = v
		}
	}
	return nil
}

// parseOptStr splits observer's -o value "k1=v1,k2=v2". Empty items are
// ignored; an item without '=' is rejected, as observer rejects it.
func parseOptStr(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid config item %q in -o (want key=value)", item)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// mergeOver returns saved overridden by every field set in o, the way observer
// lets command-line options replace the values in observer.config.bin.
func (o Options) mergeOver(saved Options) Options {
	m := saved
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.ClusterName, o.ClusterName)
	set(&m.ClusterID, o.ClusterID)
	set(&m.Zone, o.Zone)
	set(&m.DataDir, o.DataDir)
	set(&m.LocalIP, o.LocalIP)
	set(&m.DevName, o.DevName)
	set(&m.SyslogLevel, o.SyslogLevel)
	set(&m.RootServiceList, o.RootServiceList)
	if o.MySQLPort != 0 {
		m.MySQLPort = o.MySQLPort
	}
	if o.RPCPort != 0 {
		m.RPCPort = o.RPCPort
	}
	m.IPv6 = m.IPv6 || o.IPv6
	if len(o.Params) > 0 {
		params := map[string]string{}
		for k, v := range saved.Params {
			params[k] = v
		}
		for k, v := range o.Params {
			params[k] = v
		}
		m.Params = params
	}
	return m
}

// validateFirstStart enforces what observer requires when it has no saved
// config yet. The message names the missing option like observer's log does.
func (o Options) validateFirstStart() error {
	var missing []string
	if o.ClusterName == "" {
		missing = append(missing, "cluster name (-n)")
	}
	if o.ClusterID == "" {
		missing = append(missing, "cluster id (-c)")
	}
	if o.Zone == "" {
		missing = append(missing, "zone (-z)")
	}
	if o.MySQLPort == 0 {
		missing = append(missing, "mysql port (-p)")
	}
	if o.RPCPort == 0 {
		missing = append(missing, "rpc port (-P)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("observer is not initialized and %s must be specified", strings.Join(missing, ", "))
	}
	if _, err := strconv.ParseInt(o.ClusterID, 10, 64); err != nil {
		return fmt.Errorf("invalid cluster id %q: %w", o.ClusterID, err)
	}
	return nil
}

// ConfigPath is where observer keeps its configuration, written on first start.
func ConfigPath(home string) string { return filepath.Join(home, "etc", "observer.config.bin") }

// loadConfig reads the saved config; ok is false when there is none.
func loadConfig(home string) (Options, bool, error) {
	b, err := os.ReadFile(ConfigPath(home))
	if errors.Is(err, fs.ErrNotExist) {
		return Options{}, false, nil
	}
	if err != nil {
		return Options{}, false, fmt.Errorf("read config: %w", err)
	}
	var o Options
	if err := json.Unmarshal(b, &o); err != nil {
		return Options{}, false, fmt.Errorf("parse %s: %w", ConfigPath(home), err)
	}
	return o, true, nil
}

func saveConfig(home string, o Options) error {
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(ConfigPath(home), b)
}

// writeFileAtomic replaces path so that readers never see a partial file.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// paramNames lists -o keys in a stable order for the parameter view.
func (o Options) paramNames() []string {
	names := make([]string, 0, len(o.Params))
	for k := range o.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// readJSONFile decodes the JSON file at path; a missing file is the zero
// value, as for a home whose observer never wrote it.
func readJSONFile[T any](path, what string) (T, error) {
	var v T
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}
