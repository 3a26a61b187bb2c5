package activities

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// startOptions maps config keys to the observer's own flags, in the order
// our command line lists them. obshell iterates a Go map here (random
// order, CONTRACT.md §9.5); any order is equivalent for the observer, and a fixed
// one lets a redelivered "Start observer" recognise the process it started.
var startOptions = []struct{ key, flag string }{
	{keyCluster, "-n"},
	{keyClusterID, "-c"},
	{keyZone, "-z"},
	{keyLocalIP, "-I"},
	{keyDevname, "-i"},
	{keyDataDir, "-d"},
	{keyMySQLPort, "-p"},
	{keyRPCPort, "-P"},
	{keySyslog, "-l"},
	{keyRsList, "-r"},
}

// nonStartItems never reach the command line.
var nonStartItems = []string{keyHomePath, keyDataDir, keyRedoDir, keyClogDir, keySlogDir, keyRootPwd}

// extraKeyRE is the set of keys obshell lets through to -o.
var extraKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)

// requiredStartItems must be present on an observer's first start.
var requiredStartItems = []string{keyCluster, keyClusterID, keyZone, keyMySQLPort, keyRPCPort}

// firstStartConfig adds what obshell adds on an observer's first start
// (local_ip = the agent's IP, data_dir = <home>/store) and checks the
// required keys. It returns a new map.
func firstStartConfig(cfg map[string]string, agentIP, home string) (map[string]string, error) {
	out := make(map[string]string, len(cfg)+2)
	for k, v := range cfg {
		out[k] = v
	}
	if _, ok := out[keyLocalIP]; !ok {
		out[keyLocalIP] = agentIP
	}
	if _, ok := out[keyDataDir]; !ok {
		out[keyDataDir] = filepath.Join(home, "store")
	}
	for _, k := range requiredStartItems {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("config %s is required", k)
		}
	}
	return out, nil
}

// startArgs returns the observer's argv after the program name, exactly as
// bash will split the command line that startCommand builds.
func startArgs(cfg map[string]string) []string {
	var args []string
	for _, o := range startOptions {
		if v, ok := cfg[o.key]; ok {
			args = append(args, o.flag, v)
		}
	}
	if strings.Contains(cfg[keyLocalIP], ":") {
		args = append(args, "--ipv6")
	}
	if extra := extraOptions(cfg); extra != "" {
		args = append(args, "-o", extra)
	}
	return args
}

// extraOptions is the value of -o: every key that is neither a flag nor a
// non-start item, as k=v joined by commas, keys sorted. Like obshell, values
// are not escaped for commas.
func extraOptions(cfg map[string]string) string {
	skip := map[string]bool{}
	for _, o := range startOptions {
		skip[o.key] = true
	}
	for _, k := range nonStartItems {
		skip[k] = true
	}
	var kv []string
	for k, v := range cfg {
		if skip[k] || !extraKeyRE.MatchString(k) {
			continue
		}
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// startCommand builds obshell's start command for /bin/bash -c:
//
//	export LD_LIBRARY_PATH='<home>/lib'; <home>/bin/observer  <opts> <extra>
//
// where <opts> is one "<flag> '<value>' " per present key and <extra> is
// "-o '<k=v,...>'"; every quoted value uses '\” for a single quote.
func startCommand(home string, cfg map[string]string) string {
	var opts strings.Builder
	for _, o := range startOptions {
		if v, ok := cfg[o.key]; ok {
			fmt.Fprintf(&opts, "%s %s ", o.flag, shellQuote(v))
		}
	}
	if strings.Contains(cfg[keyLocalIP], ":") {
		opts.WriteString("--ipv6 ")
	}
	extra := ""
	if e := extraOptions(cfg); e != "" {
		extra = "-o " + shellQuote(e)
	}
	prefix := fmt.Sprintf("export LD_LIBRARY_PATH=%s; %s ", shellQuote(home+"/lib"), observerPath(home))
	return fmt.Sprintf("%s %s %s", prefix, opts.String(), extra)
}

// observerPath is the observer binary of a home.
func observerPath(home string) string { return home + "/bin/observer" }
