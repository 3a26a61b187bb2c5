package activities

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/obflow/obflow/internal/obcluster"
)

// Config keys obshell treats specially (ob/agent/constant).
const (
	keyCluster   = "cluster"
	keyClusterID = "cluster_id"
	keyZone      = "zone"
	keyMySQLPort = "mysql_port"
	keyRPCPort   = "rpc_port"
	keyLocalIP   = "local_ip"
	keyDevname   = "devname"
	keySyslog    = "syslog_level"
	keyRsList    = "rootservice_list"
	keyRootPwd   = "rootPwd"
	keyHomePath  = "homePath"
	keyDataDir   = "data_dir"
	keyRedoDir   = "redo_dir"
	keyClogDir   = "clog_dir"
	keySlogDir   = "slog_dir"
)

// IntegrateConfig is the activity "Integrate config". It is pure: the
// result depends only on its input, so a redelivery recomputes the same
// plan.
func IntegrateConfig(_ context.Context, in IntegrateConfigInput) (IntegrateConfigResult, error) {
	return integrate(in, &logbook{})
}

func integrate(in IntegrateConfigInput, log *logbook) (IntegrateConfigResult, error) {
	log.Logf("get all agents")
	if len(in.Hosts) == 0 {
		return IntegrateConfigResult{}, log.fail(ErrCommonIllegalArgument, nil, "The input parameter 'hosts' is illegal: no agent has joined")
	}
	masterIdx := slices.IndexFunc(in.Hosts, func(h obcluster.Host) bool { return h.Agent == in.Master })
	if masterIdx < 0 {
		return IntegrateConfigResult{}, log.fail(ErrAgentNotExist, nil, "Server '%s' does not exist", in.Master)
	}
	seen := map[obcluster.Agent]bool{}
	for _, h := range in.Hosts {
		if seen[h.Agent] {
			return IntegrateConfigResult{}, log.fail(ErrCommonIllegalArgument, nil, "The input parameter 'hosts' is illegal: agent %s joined twice", h.Agent)
		}
		seen[h.Agent] = true
		if h.Zone == "" || h.HomePath == "" {
			return IntegrateConfigResult{}, log.fail(ErrCommonIllegalArgument, nil, "The input parameter 'hosts' is illegal: agent %s has no zone or home path", h.Agent)
		}
	}
	log.Logf("get global config")

	res := IntegrateConfigResult{Servers: make([]obcluster.ServerPlan, 0, len(in.Hosts))}
	for _, h := range in.Hosts {
		log.Logf("Integrating %s agent config", h.Agent)
		sp, err := serverPlan(in, h)
		if err != nil {
			return IntegrateConfigResult{}, log.fail(ErrCommonInvalidPort, nil, "%s", err.Error())
		}
		res.Servers = append(res.Servers, sp)
	}

	log.Logf("setting bootstrap config")
	var err error
	if strings.TrimSpace(in.Cluster.RsList) != "" {
		log.Logf("rsList has set, check it")
		res.Zones, res.ZoneRS, res.UnRS, err = rsFromList(in.Cluster.RsList, res.Servers)
		if err != nil {
			return IntegrateConfigResult{}, log.fail(ErrRsListInvalid, nil, "rs_list '%s' is invalid: %s", in.Cluster.RsList, err.Error())
		}
	} else {
		res.Zones, res.ZoneRS, res.UnRS = generateRS(res.Servers, masterIdx)
	}
	log.Logf("bootstrap zones: %s", strings.Join(res.Zones, ","))
	res.Result = log.result()
	return res, nil
}

// serverPlan merges the config scopes for one host and fills obshell's
// defaults (ports, directories).
func serverPlan(in IntegrateConfigInput, h obcluster.Host) (obcluster.ServerPlan, error) {
	merged := mergeConfig(in.Observer.Global, in.Observer.Zone[h.Zone], in.Observer.Server[h.Agent.String()])
	// Keys the API never lets a user set through observer config; the
	// cluster config provides some of them below.
	for _, k := range []string{keyRootPwd, keyRsList, keyCluster, keyClusterID, keyZone} {
		delete(merged, k)
	}
	if in.Cluster.Name != "" {
		merged[keyCluster] = in.Cluster.Name
	}
	if in.Cluster.ID > 0 {
		merged[keyClusterID] = strconv.FormatInt(in.Cluster.ID, 10)
	}
	merged[keyHomePath] = h.HomePath
	merged[keyZone] = h.Zone

	ports := map[string]int{keyMySQLPort: obcluster.DefaultMySQLPort, keyRPCPort: obcluster.DefaultRPCPort}
	for _, key := range []string{keyMySQLPort, keyRPCPort} {
		v, ok := merged[key]
		if !ok || v == "" {
			merged[key] = strconv.Itoa(ports[key])
			continue
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 1025 || p > 65535 {
			// obshell accepts [1025, 65535] but its message says 1024.
			return obcluster.ServerPlan{}, fmt.Errorf("The port '%s' is invalid, must be in [1024, 65535]", v)
		}
		ports[key] = p
	}

	dirs := fillDir(merged)
	for _, k := range []string{keyHomePath, keyDataDir, keyRedoDir, keyClogDir, keySlogDir} {
		delete(merged, k)
	}
	return obcluster.ServerPlan{
		Host:      h,
		Dirs:      dirs,
		Config:    merged,
		MySQLPort: ports[keyMySQLPort],
		RPCPort:   ports[keyRPCPort],
	}, nil
}

// mergeConfig resolves global, zone and server scopes. Like obshell's
// mergeConfig on gmt_modify, a narrower scope's value survives only if it
// was written strictly later than the broader one; so the most recently
// written value wins and ties go to the broader scope.
func mergeConfig(scopes ...map[string]obcluster.ConfigValue) map[string]string {
	best := map[string]obcluster.ConfigValue{}
	for _, scope := range scopes {
		for k, v := range scope {
			if cur, ok := best[k]; ok && v.Revision <= cur.Revision {
				continue
			}
			best[k] = v
		}
	}
	out := make(map[string]string, len(best))
	for k, v := range best {
		out[k] = v.Value
	}
	return out
}

// fillDir is obshell's fillDir: data_dir defaults to <home>/store, redo_dir
// to data_dir, clog_dir to <redo_dir>/clog and slog_dir to <data_dir>/slog.
func fillDir(cfg map[string]string) obcluster.Dirs {
	d := obcluster.Dirs{HomePath: cfg[keyHomePath], DataDir: cfg[keyDataDir], RedoDir: cfg[keyRedoDir], ClogDir: cfg[keyClogDir], SlogDir: cfg[keySlogDir]}
	if d.DataDir == "" {
		d.DataDir = filepath.Join(d.HomePath, "store")
	}
	if d.RedoDir == "" {
		d.RedoDir = d.DataDir
	}
	if d.ClogDir == "" {
		d.ClogDir = filepath.Join(d.RedoDir, "clog")
	}
	if d.SlogDir == "" {
		d.SlogDir = filepath.Join(d.DataDir, "slog")
	}
	return d
}

// generateRS picks one root server per zone. obshell walks a Go map, so
// its choice for the other zones is random; ours is deterministic: the
// master's zone comes first with the master as its root server, then every
// other zone in the order its first host appears in the hosts list, with
// that host as root server. Everyone else is "unRS", to be added with ADD
// SERVER.
func generateRS(servers []obcluster.ServerPlan, master int) ([]string, map[string]obcluster.ServerAddr, map[string][]obcluster.ServerAddr) {
	zones := []string{servers[master].Host.Zone}
	zoneRS := map[string]obcluster.ServerAddr{servers[master].Host.Zone: addrOf(servers[master])}
	unRS := map[string][]obcluster.ServerAddr{}
	for i, s := range servers {
		if i == master {
			continue
		}
		z := s.Host.Zone
		if _, ok := zoneRS[z]; ok {
			unRS[z] = append(unRS[z], addrOf(s))
			continue
		}
		zoneRS[z] = addrOf(s)
		zones = append(zones, z)
	}
	return zones, zoneRS, unRS
}

func addrOf(s obcluster.ServerPlan) obcluster.ServerAddr {
	return obcluster.ServerAddr{IP: s.Host.Agent.IP, RPCPort: s.RPCPort}
}

// rsEntry is one "ip:rpc_port:mysql_port" of a rootservice list.
type rsEntry struct {
	IP        string
	RPCPort   int
	MySQLPort int
}

// parseRsList parses obshell's rootservice list: entries separated by ';',
// each "ip:rpc_port:mysql_port" or "[ipv6]:rpc_port:mysql_port".
func parseRsList(list string) ([]rsEntry, error) {
	var out []rsEntry
	for _, raw := range strings.Split(list, ";") {
		s := strings.TrimSpace(raw)
		if s == "" {
			return nil, fmt.Errorf("has empty rsServer")
		}
		var ip, rest string
		if strings.HasPrefix(s, "[") {
			end := strings.Index(s, "]")
			if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
				return nil, fmt.Errorf("%s is not a valid rsServer", s)
			}
			ip, rest = s[1:end], s[end+2:]
		} else {
			i := strings.Index(s, ":")
			if i < 0 {
				return nil, fmt.Errorf("%s is not a valid rsServer", s)
			}
			ip, rest = s[:i], s[i+1:]
		}
		ports := strings.Split(rest, ":")
		if len(ports) != 2 || net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("%s is not a valid rsServer", s)
		}
		rpc, err1 := strconv.Atoi(ports[0])
		sql, err2 := strconv.Atoi(ports[1])
		if err1 != nil || err2 != nil || rpc < 1 || rpc > 65535 || sql < 1 || sql > 65535 {
			return nil, fmt.Errorf("%s is not a valid rsServer", s)
		}
		out = append(out, rsEntry{IP: ip, RPCPort: rpc, MySQLPort: sql})
	}
	return out, nil
}

// rsFromList validates a configured rootservice list against the cluster:
// every entry must be a member (agent ip + rpc port) with the same MySQL
// port, at most one per zone, and every zone must have one. Zones are
// bootstrapped in list order, as obshell does.
func rsFromList(list string, servers []obcluster.ServerPlan) ([]string, map[string]obcluster.ServerAddr, map[string][]obcluster.ServerAddr, error) {
	entries, err := parseRsList(list)
	if err != nil {
		return nil, nil, nil, err
	}
	var zones []string
	zoneRS := map[string]obcluster.ServerAddr{}
	for _, e := range entries {
		name := rsName(e)
		i := slices.IndexFunc(servers, func(s obcluster.ServerPlan) bool {
			return sameIP(s.Host.Agent.IP, e.IP) && s.RPCPort == e.RPCPort
		})
		if i < 0 {
			return nil, nil, nil, fmt.Errorf("%s not in cluster", name)
		}
		if servers[i].MySQLPort != e.MySQLPort {
			return nil, nil, nil, fmt.Errorf("%s mysql port not match", name)
		}
		z := servers[i].Host.Zone
		if _, dup := zoneRS[z]; dup {
			return nil, nil, nil, fmt.Errorf("%s has more than one rootserver", z)
		}
		zoneRS[z] = addrOf(servers[i])
		zones = append(zones, z)
	}
	unRS := map[string][]obcluster.ServerAddr{}
	for _, s := range servers {
		rs, ok := zoneRS[s.Host.Zone]
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s has no rootserver", s.Host.Zone)
		}
		if a := addrOf(s); a != rs {
			unRS[s.Host.Zone] = append(unRS[s.Host.Zone], a)
		}
	}
	return zones, zoneRS, unRS, nil
}

func rsName(e rsEntry) string {
	host := e.IP
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s:%d:%d", host, e.RPCPort, e.MySQLPort)
}

func sameIP(a, b string) bool {
	pa, pb := net.ParseIP(a), net.ParseIP(b)
	if pa == nil || pb == nil {
		return a == b
	}
	return pa.Equal(pb)
}
