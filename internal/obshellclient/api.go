package obshellclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// Info is GET /api/v1/info (no auth). Like the Python SDK it requires data.
func (c *Client) Info(ctx context.Context) (*obshell.AgentStatus, error) {
	var out obshell.AgentStatus
	if err := c.get(ctx, "/api/v1/info", nil, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status is GET /api/v1/status (no auth).
func (c *Client) Status(ctx context.Context) (*obshell.ServerStatus, error) {
	var out obshell.ServerStatus
	if err := c.get(ctx, "/api/v1/status", nil, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Secret is GET /api/v1/secret (no auth).
func (c *Client) Secret(ctx context.Context) (*obshell.AgentSecret, error) {
	var out obshell.AgentSecret
	if err := c.get(ctx, "/api/v1/secret", nil, false, &out); err != nil {
		return nil, err
	}
	if out.PublicKey == "" {
		return nil, errors.New("secret: empty public key")
	}
	return &out, nil
}

func (c *Client) get(ctx context.Context, path string, q url.Values, auth bool, out any) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: path, query: q, auth: auth}, out)
	return err
}

func (c *Client) dag(ctx context.Context, method, path string, body any) (*obshell.DagDetailDTO, error) {
	var out obshell.DagDetailDTO
	noContent, err := c.call(ctx, request{method: method, path: path, body: body, auth: true}, &out)
	if err != nil {
		return nil, err
	}
	if noContent {
		return nil, nil
	}
	return &out, nil
}

// Join is POST /api/v1/agent/join: sent to the joining agent, with the master's address in
// agentInfo. The body is shaped like the SDK of the client's casing: Go sends "AgentInfo" and no
// masterPassword, Python "agentInfo" and masterPassword (null when empty).
func (c *Client) Join(ctx context.Context, p obshell.JoinApiParam) (*obshell.DagDetailDTO, error) {
	var body any
	if c.casing == hybridauth.CasingPython {
		var mp *string
		if p.MasterPassword != "" {
			mp = &p.MasterPassword
		}
		body = struct {
			AgentInfo      obcluster.Agent `json:"agentInfo"`
			ZoneName       string          `json:"zoneName"`
			MasterPassword *string         `json:"masterPassword"`
		}{p.AgentInfo, p.ZoneName, mp}
	} else {
		body = struct {
			AgentInfo obcluster.Agent `json:"AgentInfo"`
			ZoneName  string          `json:"zoneName"`
		}{p.AgentInfo, p.ZoneName}
	}
	return c.dag(ctx, http.MethodPost, "/api/v1/agent/join", body)
}

// RemoveAgent is POST /api/v1/agent/remove {"ip","port"}. It returns nil, nil on 204 (nothing
// to remove).
func (c *Client) RemoveAgent(ctx context.Context, agent obcluster.Agent) (*obshell.DagDetailDTO, error) {
	return c.dag(ctx, http.MethodPost, "/api/v1/agent/remove", obshell.AgentRemoveParam{IP: agent.IP, Port: agent.Port})
}

// SetAgentPassword is POST /api/v1/agent/password {"password"}: it sets the agent's own password.
// Once set, the agent requires it (WithAgentPassword) to change it again.
func (c *Client) SetAgentPassword(ctx context.Context, password string) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/agent/password", body: map[string]string{"password": password}, auth: true}, nil)
	return err
}

// ConfigObserver is POST /api/v1/observer/config.
func (c *Client) ConfigObserver(ctx context.Context, p obshell.ObServerConfigParams) (*obshell.DagDetailDTO, error) {
	return c.dag(ctx, http.MethodPost, "/api/v1/observer/config", p)
}

// ConfigObcluster is POST /api/v1/obcluster/config. When RootPwd is set it first makes that
// password the candidate credential, as the Go SDK does, because the agent starts requiring it as
// soon as the DAG's task runs (CONTRACT.md §5.7).
func (c *Client) ConfigObcluster(ctx context.Context, p obshell.ObClusterConfigParams) (*obshell.DagDetailDTO, error) {
	if p.RootPwd != nil {
		c.SetCandidatePassword(*p.RootPwd)
	}
	return c.dag(ctx, http.MethodPost, "/api/v1/obcluster/config", p)
}

// Init is POST /api/v1/ob/init. The Go casing sends only import_script (the Go SDK cannot send
// the proxyro fields); the Python casing sends all three.
func (c *Client) Init(ctx context.Context, p obshell.ObInitParam) (*obshell.DagDetailDTO, error) {
	var body any = p
	if c.casing == hybridauth.CasingGo {
		body = struct {
			ImportScript bool `json:"import_script"`
		}{p.ImportScript}
	}
	return c.dag(ctx, http.MethodPost, "/api/v1/ob/init", body)
}

// showDetailsQuery is what each SDK sends on the task routes that take show_details: nothing (Go,
// unless SetShowDetail is called) or show_details=True (Python's show_detail=True default).
func (c *Client) showDetailsQuery() url.Values {
	if c.casing == hybridauth.CasingPython {
		return url.Values{"show_details": {"True"}}
	}
	return nil
}

// GetDag is GET /api/v1/task/dag/:id as the client's SDK sends it (details included).
func (c *Client) GetDag(ctx context.Context, id string) (*obshell.DagDetailDTO, error) {
	var out obshell.DagDetailDTO
	if err := c.get(ctx, "/api/v1/task/dag/"+url.PathEscape(id), c.showDetailsQuery(), true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetDagDetails is GET /api/v1/task/dag/:id?show_details=<true|false>.
func (c *Client) GetDagDetails(ctx context.Context, id string, showDetails bool) (*obshell.DagDetailDTO, error) {
	var out obshell.DagDetailDTO
	q := url.Values{"show_details": {fmt.Sprint(showDetails)}}
	if err := c.get(ctx, "/api/v1/task/dag/"+url.PathEscape(id), q, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OperateDag is POST /api/v1/task/dag/:id {"operator": op}; success has no data.
func (c *Client) OperateDag(ctx context.Context, id string, op obcluster.Operator) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/task/dag/" + url.PathEscape(id),
		body: obshell.DagOperator{Operator: op.String()}, auth: true}, nil)
	return err
}

// GetNode is GET /api/v1/task/node/:id (details included).
func (c *Client) GetNode(ctx context.Context, id string) (*obshell.NodeDetailDTO, error) {
	var out obshell.NodeDetailDTO
	if err := c.get(ctx, "/api/v1/task/node/"+url.PathEscape(id), c.showDetailsQuery(), true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OperateNode is POST /api/v1/task/node/:id {"operator": op} (only PASS is accepted by agents).
func (c *Client) OperateNode(ctx context.Context, id string, op obcluster.Operator) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/task/node/" + url.PathEscape(id),
		body: obshell.NodeOperator{Operator: op.String()}, auth: true}, nil)
	return err
}

// GetSubTask is GET /api/v1/task/sub_task/:id.
func (c *Client) GetSubTask(ctx context.Context, id string) (*obshell.TaskDetailDTO, error) {
	var out obshell.TaskDetailDTO
	if err := c.get(ctx, "/api/v1/task/sub_task/"+url.PathEscape(id), nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSubTaskLogs is GET /api/v1/task/sub_task/:id/logs.
func (c *Client) GetSubTaskLogs(ctx context.Context, id string) ([]obshell.SubTaskLogDTO, error) {
	var out obshell.Contents[obshell.SubTaskLogDTO]
	if err := c.get(ctx, "/api/v1/task/sub_task/"+url.PathEscape(id)+"/logs", nil, true, &out); err != nil {
		return nil, err
	}
	return out.Contents, nil
}

// Get is an authenticated GET of path with query q, its data decoded into out: for routes and
// query strings the typed methods do not cover.
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.get(ctx, path, q, true, out)
}

func (c *Client) dagList(ctx context.Context, path string) ([]*obshell.DagDetailDTO, error) {
	var out obshell.Contents[*obshell.DagDetailDTO]
	if err := c.get(ctx, path, c.showDetailsQuery(), true, &out); err != nil {
		return nil, err
	}
	return out.Contents, nil
}

// GetAgentLastMaintenanceDag is GET /api/v1/task/dag/maintain/agent (details included, as for every
// DAG route below).
func (c *Client) GetAgentLastMaintenanceDag(ctx context.Context) (*obshell.DagDetailDTO, error) {
	var out obshell.DagDetailDTO
	if err := c.get(ctx, "/api/v1/task/dag/maintain/agent", c.showDetailsQuery(), true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetObLastMaintenanceDag is GET /api/v1/task/dag/maintain/ob.
func (c *Client) GetObLastMaintenanceDag(ctx context.Context) (*obshell.DagDetailDTO, error) {
	var out obshell.DagDetailDTO
	if err := c.get(ctx, "/api/v1/task/dag/maintain/ob", c.showDetailsQuery(), true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAllAgentsLastMaintenanceDag is GET /api/v1/task/dag/maintain/agents.
func (c *Client) GetAllAgentsLastMaintenanceDag(ctx context.Context) ([]*obshell.DagDetailDTO, error) {
	return c.dagList(ctx, "/api/v1/task/dag/maintain/agents")
}

// GetUnfinishedDags is GET /api/v1/task/dag/unfinish.
func (c *Client) GetUnfinishedDags(ctx context.Context) ([]*obshell.DagDetailDTO, error) {
	return c.dagList(ctx, "/api/v1/task/dag/unfinish")
}

// GetAgentUnfinishedDags is GET /api/v1/task/dag/agent/unfinish.
func (c *Client) GetAgentUnfinishedDags(ctx context.Context) ([]*obshell.DagDetailDTO, error) {
	return c.dagList(ctx, "/api/v1/task/dag/agent/unfinish")
}

// GetClusterUnfinishedDags is GET /api/v1/task/dag/ob/unfinish.
func (c *Client) GetClusterUnfinishedDags(ctx context.Context) ([]*obshell.DagDetailDTO, error) {
	return c.dagList(ctx, "/api/v1/task/dag/ob/unfinish")
}

// GetAgentDags is GET /api/v1/task/dags/agent.
func (c *Client) GetAgentDags(ctx context.Context) ([]*obshell.DagDetailDTO, error) {
	return c.dagList(ctx, "/api/v1/task/dags/agent")
}

// GetClusterDags is GET /api/v1/task/dags/ob.
func (c *Client) GetClusterDags(ctx context.Context) ([]*obshell.DagDetailDTO, error) {
	return c.dagList(ctx, "/api/v1/task/dags/ob")
}

// ErrQueryDagFailed wraps a failed poll in WaitDagSucceed (the Go SDK's "query dag failed").
var ErrQueryDagFailed = errors.New("query dag failed")

// DagFailedError is returned by WaitDagSucceed when the DAG ends FAILED. Its message is the
// SDKs': the lines of GetFailedDagLastLog joined by newlines.
type DagFailedError struct {
	Dag  *obshell.DagDetailDTO
	Logs []string
}

func (e *DagFailedError) Error() string { return strings.Join(e.Logs, "\n") }

// WaitDagSucceed polls GET /api/v1/task/dag/:id every interval (the Go SDK uses 2 s, Python 3 s)
// until the DAG is SUCCEED (returned) or FAILED (returned together with a *DagFailedError). A
// failed poll ends the wait with an error wrapping ErrQueryDagFailed, as in the Go SDK; ctx
// bounds the whole wait.
func (c *Client) WaitDagSucceed(ctx context.Context, id string, interval time.Duration) (*obshell.DagDetailDTO, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		dag, err := c.GetDag(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrQueryDagFailed, err)
		}
		if dag.IsSucceed() {
			return dag, nil
		}
		if dag.IsFailed() {
			return dag, &DagFailedError{Dag: dag, Logs: GetFailedDagLastLog(dag)}
		}
		select {
		case <-ctx.Done():
			return dag, ctx.Err()
		case <-t.C:
		}
	}
}

// OperateDagSync posts the operator and, except for PASS (which is applied at once), waits for the
// outcome the SDKs accept: ROLLBACK → SUCCEED/ROLLBACK, RETRY → SUCCEED/RUN, CANCEL →
// FAILED/CANCEL. Any other end state is an error (a *DagFailedError when the DAG failed again).
func (c *Client) OperateDagSync(ctx context.Context, id string, op obcluster.Operator, interval time.Duration) (*obshell.DagDetailDTO, error) {
	if err := c.OperateDag(ctx, id, op); err != nil {
		return nil, fmt.Errorf("operate dag %s %s: %w", id, op, err)
	}
	if op == obcluster.OperatorPass {
		return c.GetDag(ctx, id)
	}
	dag, err := c.WaitDagSucceed(ctx, id, interval)
	if dag == nil {
		return nil, err
	}
	switch {
	case op == obcluster.OperatorRollback && dag.IsSucceed() && dag.IsRollback(),
		op == obcluster.OperatorRetry && dag.IsSucceed() && dag.IsRun(),
		op == obcluster.OperatorCancel && dag.IsFailed() && dag.IsCancel():
		return dag, nil
	}
	if err == nil {
		err = fmt.Errorf("dag %s ended %s/%s after %s", id, dag.State, dag.Operator, op)
	}
	return dag, err
}

// GetFailedDagLastLog is the SDKs' summary of a failed DAG: for the first FAILED node, "Sorry,
// Task '<dag>' was cancelled" if it was cancelled, else "<ip:port> <last log line>" for each FAILED
// sub-task; "No failed task log found, please check the task details" if no node failed. Unlike
// the Go SDK it does not panic on a failed sub-task without logs (it reports "<ip:port> ").
func GetFailedDagLastLog(dag *obshell.DagDetailDTO) []string {
	if dag == nil {
		return []string{"No failed task log found, please check the task details"}
	}
	for _, node := range dag.Nodes {
		if node == nil || !node.IsFailed() {
			continue
		}
		if node.Operator == obcluster.OperatorCancel {
			return []string{fmt.Sprintf("Sorry, Task '%s' was cancelled", dag.Name)}
		}
		var res []string
		for _, st := range node.SubTasks {
			if st == nil || !st.IsFailed() {
				continue
			}
			last := ""
			if n := len(st.TaskLogs); n > 0 {
				last = st.TaskLogs[n-1]
			}
			res = append(res, fmt.Sprintf("%s:%d %s", st.ExecuteAgent.IP, st.ExecuteAgent.Port, last))
		}
		return res
	}
	return []string{"No failed task log found, please check the task details"}
}
