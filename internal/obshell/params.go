package obshell

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/obflow/obflow/internal/obcluster"
)

// Request parameters of the routes obflow serves. All are decoded with encoding/json, whose
// field-name matching is case-insensitive: the Go SDK sends "AgentInfo", Python "agentInfo", and
// both land in JoinApiParam.AgentInfo (CONTRACT.md §1.2). Do not add a case-sensitive decoder.

// JoinApiParam is the body of POST /api/v1/agent/join and POST /api/v1/agent.
type JoinApiParam struct {
	AgentInfo      obcluster.Agent `json:"agentInfo"`
	ZoneName       string          `json:"zoneName"`
	MasterPassword string          `json:"masterPassword"` // the master's agent password; optional
}

// ObClusterConfigParams is the body of POST|PUT /api/v1/obcluster/config. Pointers tell "absent"
// from "zero": only present keys are stored (and, when encoding, only present keys are sent).
type ObClusterConfigParams struct {
	ClusterID   *int    `json:"clusterId,omitempty"`
	ClusterName *string `json:"clusterName,omitempty"`
	RsList      *string `json:"rsList,omitempty"`
	RootPwd     *string `json:"rootPwd,omitempty"`
}

// Scope of an observer config: type GLOBAL, ZONE or SERVER (any case) and its targets.
type Scope struct {
	Type   string   `json:"type"`
	Target []string `json:"target"`
}

// Scope types.
const (
	ScopeGlobal = "GLOBAL"
	ScopeZone   = "ZONE"
	ScopeServer = "SERVER"
)

// ObServerConfigParams is the body of POST|PUT /api/v1/observer/config. Restart is accepted and
// ignored, as by obshell.
type ObServerConfigParams struct {
	ObServerConfig map[string]string `json:"observerConfig"`
	Restart        bool              `json:"restart"`
	Scope          Scope             `json:"scope"`
}

// ObInitParam is the body of POST /api/v1/ob/init (all optional).
type ObInitParam struct {
	ImportScript      bool   `json:"import_script"`
	CreateProxyroUser bool   `json:"create_proxyro_user"`
	ProxyroPassword   string `json:"proxyro_password"`
}

// DagOperator is the body of POST /api/v1/task/dag/:id.
type DagOperator struct {
	Operator string `json:"operator"`
}

// NodeOperator is the body of POST /api/v1/task/node/:id.
type NodeOperator struct {
	Operator string `json:"operator"`
}

// AgentRemoveParam is the body of POST /api/v1/agent/remove and DELETE /api/v1/agent.
type AgentRemoveParam struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

// AgentInfo returns the address to remove.
func (p AgentRemoveParam) AgentInfo() obcluster.Agent { return obcluster.Agent{IP: p.IP, Port: p.Port} }

// binder is implemented by params that have gin "binding:required" rules in obshell.
type binder interface {
	bindingErrors() []string
}

// BindJSON decodes a (decrypted) request body into v the way obshell's gin binding does, and
// returns a 400 Common.BindJsonFailed error for bad JSON, wrong JSON types and failed "required"
// rules ("Bind JSON failed: Key: 'JoinApiParam.ZoneName' Error:Field validation for 'ZoneName'
// failed on the 'required' tag"). An empty body counts as {} (obshell's PaddingBody). Like gin it
// decodes one JSON value and ignores what follows it.
func BindJSON(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		return NewBindJSONFailed(err)
	}
	if b, ok := v.(binder); ok {
		if errs := b.bindingErrors(); len(errs) > 0 {
			return New(CodeCommonBindJSONFailed, strings.Join(errs, "\n"))
		}
	}
	return nil
}

func requiredErr(namespace, field string) string {
	return fmt.Sprintf("Key: '%s' Error:Field validation for '%s' failed on the 'required' tag", namespace, field)
}

func agentInfoBindingErrors(ns string, a obcluster.Agent) []string {
	var errs []string
	if a.IP == "" {
		errs = append(errs, requiredErr(ns+".Ip", "Ip"))
	}
	if a.Port == 0 {
		errs = append(errs, requiredErr(ns+".Port", "Port"))
	}
	return errs
}

func (p *JoinApiParam) bindingErrors() []string {
	errs := agentInfoBindingErrors("JoinApiParam.AgentInfo", p.AgentInfo)
	if p.ZoneName == "" {
		errs = append(errs, requiredErr("JoinApiParam.ZoneName", "ZoneName"))
	}
	return errs
}

func (p *ObServerConfigParams) bindingErrors() []string {
	if p.ObServerConfig == nil {
		return []string{requiredErr("ObServerConfigParams.ObServerConfig", "ObServerConfig")}
	}
	return nil
}

func (p *DagOperator) bindingErrors() []string {
	if p.Operator == "" {
		return []string{requiredErr("DagOperator.Operator", "Operator")}
	}
	return nil
}

func (p *NodeOperator) bindingErrors() []string {
	if p.Operator == "" {
		return []string{requiredErr("NodeOperator.Operator", "Operator")}
	}
	return nil
}

func (p *AgentRemoveParam) bindingErrors() []string {
	return agentInfoBindingErrors("AgentInfo", p.AgentInfo())
}

// Check applies obshell's handler checks after binding, in its order: 400 OB.Cluster.Id.Invalid
// unless clusterId > 0, then 400 OB.Cluster.Name.Empty unless clusterName is non-empty.
func (p ObClusterConfigParams) Check() error {
	if p.ClusterID == nil || *p.ClusterID <= 0 {
		return NewClusterIDInvalid()
	}
	if p.ClusterName == nil || *p.ClusterName == "" {
		return NewClusterNameEmpty()
	}
	return nil
}

// DeniedConfigKeys are the observer config keys obshell refuses in observer/config (DeniedConfig).
var DeniedConfigKeys = []string{"cluster_id", "cluster", "rootPwd", "rootservice_list", "zone", "local_ip", "devname"}

// Check applies obshell's first handler checks, in order: an empty observerConfig → 400
// Common.IllegalArgument "The input parameter 'observerConfig' is illegal: config is empty"; a denied
// key → "... config <key> is not allowed to set". Scope and legacy keys are checked later
// (ValidateScope, NormalizeLegacyPorts), after the identity switch.
func (p ObServerConfigParams) Check() error {
	if len(p.ObServerConfig) == 0 {
		return NewIllegalParameter("observerConfig", "config is empty")
	}
	for _, key := range DeniedConfigKeys {
		if _, ok := p.ObServerConfig[key]; ok {
			return NewIllegalParameter("observerConfig", fmt.Sprintf("config %s is not allowed to set", key))
		}
	}
	return nil
}

// legacyPortKeys maps the current observer key to its legacy camel-case name, in the order they
// are checked (obshell iterates a map, so its order is random; ours is fixed).
var legacyPortKeys = [][2]string{{"rpc_port", "rpcPort"}, {"mysql_port", "mysqlPort"}}

// NormalizeLegacyPorts rewrites rpcPort/mysqlPort to rpc_port/mysql_port in place (obshell's
// paramToConfig). Both names with different values → 400 Common.IllegalArgument "The input
// parameter 'observerConfig' is illegal: You cannot set both rpc_port and rpcPort, use rpc_port
// instead."; equal values are accepted and the legacy key dropped.
func NormalizeLegacyPorts(config map[string]string) error {
	for _, kv := range legacyPortKeys {
		k, legacy := kv[0], kv[1]
		if val, ok := config[k]; ok {
			if val2, ok2 := config[legacy]; ok2 && val != val2 {
				return NewIllegalParameter("observerConfig",
					fmt.Sprintf("You cannot set both %s and %s, use %s instead.", k, legacy, k))
			}
		} else if val, ok := config[legacy]; ok {
			config[k] = val
		}
		delete(config, legacy)
	}
	return nil
}

// ParseDagOperator accepts RETRY, ROLLBACK, CANCEL and PASS in any case. Anything else, RUN
// included, is 400 Task.Dag.Operator.NotSupport "Operator <op> is not supported" with the
// operator as sent.
func ParseDagOperator(op string) (obcluster.Operator, error) {
	o, ok := obcluster.ParseOperator(op)
	if !ok || o == obcluster.OperatorRun {
		return 0, NewDagOperatorNotSupport(op)
	}
	return o, nil
}

// ParseNodeOperator accepts only PASS (any case); anything else is 400
// Task.Node.Operator.NotSupport.
func ParseNodeOperator(op string) (obcluster.Operator, error) {
	o, ok := obcluster.ParseOperator(op)
	if !ok || o != obcluster.OperatorPass {
		return 0, NewNodeOperatorNotSupport(op)
	}
	return o, nil
}

// ParseShowDetails parses the show_details query parameter: absent means true (obshell's
// default), otherwise strconv.ParseBool ("true", "True", "1", "false", "False", "0", ...).
// obshell panics (500) on an unparsable value; obflow answers 400 Common.IllegalArgument.
func ParseShowDetails(value string, present bool) (bool, error) {
	if !present {
		return true, nil
	}
	b, err := strconv.ParseBool(value)
	if err != nil {
		return false, NewIllegalParameter("show_details", fmt.Sprintf("'%s' is not a boolean", value))
	}
	return b, nil
}

// SetAgentPasswordParam is the body of POST /api/v1/agent/password (obshell's
// param.SetAgentPasswordParam).
type SetAgentPasswordParam struct {
	Password string `json:"password"`
}

func (p *SetAgentPasswordParam) bindingErrors() []string {
	if p.Password == "" {
		return []string{requiredErr("SetAgentPasswordParam.Password", "Password")}
	}
	return nil
}
