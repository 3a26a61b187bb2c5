package obshellclient

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// fakeAgent is an in-test obshell agent built on hybridauth's server side and the obshell wire
// types: it decrypts and verifies like obshell's middleware, keeps identity and root password,
// and serves DAGs from a map.
type fakeAgent struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	key          *hybridauth.Key
	verifier     *hybridauth.Verifier
	identity     obcluster.Identity
	password     string
	pendingPwd   *string // set by obcluster/config, applied when its "task runs" (next request)
	version      string
	self         obcluster.Agent
	dags         map[string]*obshell.DagDetailDTO
	nextDag      int64
	secretCalls  int
	headers      []string // decrypted header JSON, in order
	bodies       []string // decrypted bodies
	uris         []string
	retryOutcome obcluster.State // state the DAG takes after RETRY
	rejected     int             // 401 answers sent
}

func newFakeAgent(t *testing.T, identity obcluster.Identity, password string) *fakeAgent {
	t.Helper()
	key, err := hybridauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{
		t: t, key: key, verifier: hybridauth.NewVerifier(), identity: identity, password: password,
		version: "4.5.0.0-100000000000000000", dags: map[string]*obshell.DagDetailDTO{}, retryOutcome: obcluster.StateSucceed,
	}
	a.srv = httptest.NewServer(a) // 127.0.0.1, a free port
	t.Cleanup(a.srv.Close)
	host, port, _ := strings.Cut(strings.TrimPrefix(a.srv.URL, "http://"), ":")
	p, _ := strconv.Atoi(port)
	a.self = obcluster.Agent{IP: host, Port: p}
	return a
}

func (a *fakeAgent) addr() string { return a.self.String() }

func (a *fakeAgent) rotateKey() {
	k, err := hybridauth.GenerateKey()
	if err != nil {
		a.t.Fatal(err)
	}
	a.mu.Lock()
	a.key = k
	a.mu.Unlock()
}

func (a *fakeAgent) addDag(name string, state obcluster.State, operator obcluster.Operator, nodes []*obshell.NodeDetailDTO) *obshell.DagDetailDTO {
	a.nextDag++
	id, _ := obshell.EncodeLocalID(a.self, a.nextDag)
	now := obshell.LocalTime(time.Now())
	d := &obshell.DagDetailDTO{
		GenericID: id, DagID: a.nextDag, Name: name, Stage: 1, MaxStage: max(1, len(nodes)),
		MaintenanceType: obcluster.MaintenanceGlobal,
		TaskStatusDTO:   obshell.TaskStatusDTO{State: state, Operator: operator, StartTime: now, EndTime: now},
		Nodes:           nodes,
	}
	a.dags[id] = d
	return d
}

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	data, err := a.handle(r)
	var resp obshell.Response
	switch {
	case err != nil:
		resp = obshell.NewErrorResponse(err, start, "trace")
	case data == http.NoBody:
		resp = obshell.NewNoContent(start, "trace")
	default:
		resp = obshell.NewSuccess(data, start, "trace")
	}
	if resp.Status == http.StatusUnauthorized {
		a.mu.Lock()
		a.rejected++
		a.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_ = json.NewEncoder(w).Encode(resp)
}

func (a *fakeAgent) handle(r *http.Request) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	req, err := hybridauth.DecryptRequest(a.key, r, 0)
	if err != nil {
		return nil, err
	}
	hdr, body := req.Header, req.Body
	if hdr != nil {
		plain, _ := a.key.DecryptBlocks(r.Header.Get(hybridauth.HeaderName))
		a.headers = append(a.headers, string(plain))
	}
	a.uris = append(a.uris, r.RequestURI)
	switch r.URL.Path {
	case "/api/v1/info":
		return obshell.AgentStatus{Pid: 1, State: obshell.ServiceStateRunning, IP: a.self.IP, Port: a.self.Port,
			Identity: a.identity, Version: a.version, SupportedAuth: []string{obshell.AuthV2}}, nil
	case "/api/v1/secret":
		a.secretCalls++
		return obshell.AgentSecret{IP: a.self.IP, Port: a.self.Port, PublicKey: a.key.PublicKeyBase64()}, nil
	case "/api/v1/status":
		return obshell.ServerStatus{Agent: obshell.AgentInfoWithIdentity{IP: a.self.IP, Port: a.self.Port, Identity: a.identity},
			State: obshell.ServiceStateRunning, OBState: obshell.OBStateAvailable}, nil
	}

	// Authenticated routes. The pending cluster password takes effect when "the task runs".
	if a.pendingPwd != nil {
		a.password, a.pendingPwd = *a.pendingPwd, nil
	}
	if hdr == nil {
		return nil, obshell.NewHeaderNotFound()
	}
	a.bodies = append(a.bodies, string(body))
	if a.identity == obcluster.IdentitySingle {
		if err := hybridauth.CheckURI(hdr, r.RequestURI); err != nil {
			return nil, err
		}
		if err := a.verifier.CheckReplay(hdr); err != nil {
			return nil, err
		}
	} else if err := a.verifier.Verify(hdr, r.RequestURI, a.password); err != nil {
		return nil, err
	}
	return a.route(r, body)
}

func (a *fakeAgent) route(r *http.Request, body []byte) (any, error) {
	path := r.URL.Path
	switch {
	case path == "/api/v1/agent/join" && r.Method == http.MethodPost:
		var p obshell.JoinApiParam
		if err := obshell.BindJSON(body, &p); err != nil {
			return nil, err
		}
		if a.identity != obcluster.IdentitySingle {
			return nil, obshell.NewIdentifyNotSupportOperation(a.self.String(), a.identity, "SINGLE")
		}
		if p.AgentInfo != a.self {
			return nil, obshell.NewAgentNotExist(p.AgentInfo.String())
		}
		a.identity = obcluster.IdentityMaster
		return a.addDag("Join self", obcluster.StateSucceed, obcluster.OperatorRun, nil), nil
	case path == "/api/v1/observer/config":
		var p obshell.ObServerConfigParams
		if err := obshell.BindJSON(body, &p); err != nil {
			return nil, err
		}
		if err := p.Check(); err != nil {
			return nil, err
		}
		return a.addDag("Update observer config", obcluster.StateSucceed, obcluster.OperatorRun, nil), nil
	case path == "/api/v1/obcluster/config":
		var p obshell.ObClusterConfigParams
		if err := obshell.BindJSON(body, &p); err != nil {
			return nil, err
		}
		if err := p.Check(); err != nil {
			return nil, err
		}
		if p.RootPwd != nil {
			pwd := *p.RootPwd
			a.pendingPwd = &pwd
		}
		return a.addDag("Update cluster config", obcluster.StateSucceed, obcluster.OperatorRun, nil), nil
	case path == "/api/v1/ob/init":
		var p obshell.ObInitParam
		if err := obshell.BindJSON(body, &p); err != nil {
			return nil, err
		}
		if a.identity != obcluster.IdentityMaster {
			return nil, obshell.NewIdentifyNotSupportOperation(a.self.String(), a.identity, "MASTER or FOLLOWER")
		}
		a.identity = obcluster.IdentityClusterAgent
		return a.addDag("Initialize cluster", obcluster.StateSucceed, obcluster.OperatorRun, nil), nil
	case path == "/api/v1/agent/remove":
		return http.NoBody, nil
	case path == "/api/v1/task/dag/agent/unfinish":
		var out []*obshell.DagDetailDTO
		for _, d := range a.dags {
			if !d.IsSucceed() {
				out = append(out, d)
			}
		}
		return out, nil
	case strings.HasPrefix(path, "/api/v1/task/sub_task/") && strings.HasSuffix(path, "/logs"):
		return []obshell.SubTaskLogDTO{{ID: 1, SubTaskID: 5, ExecuteTimes: 1, LogContent: "hello"}}, nil
	case strings.HasPrefix(path, "/api/v1/task/dag/"):
		id := strings.TrimPrefix(path, "/api/v1/task/dag/")
		if _, err := obshell.ParseGenericID(id); err != nil {
			return nil, err
		}
		d, ok := a.dags[id]
		if !ok {
			return nil, obshell.NewTaskNotFoundReason("record not found")
		}
		if r.Method == http.MethodGet {
			return d, nil
		}
		var op obshell.DagOperator
		if err := obshell.BindJSON(body, &op); err != nil {
			return nil, err
		}
		o, err := obshell.ParseDagOperator(op.Operator)
		if err != nil {
			return nil, err
		}
		switch o {
		case obcluster.OperatorRetry:
			if !d.IsFailed() {
				return nil, obshell.NewRetryNotFailedDag()
			}
			d.State, d.Operator = a.retryOutcome, obcluster.OperatorRun
		case obcluster.OperatorRollback:
			if !d.IsFailed() {
				return nil, obshell.NewRollbackNotFailedDag()
			}
			d.State, d.Operator = obcluster.StateSucceed, obcluster.OperatorRollback
		case obcluster.OperatorCancel:
			if d.IsFinished() {
				return nil, obshell.NewCancelFinishedDag()
			}
			d.State, d.Operator = obcluster.StateFailed, obcluster.OperatorCancel
			for _, n := range d.Nodes {
				n.State, n.Operator = obcluster.StateFailed, obcluster.OperatorCancel
			}
		case obcluster.OperatorPass:
			if !d.IsFailed() {
				return nil, obshell.NewPassNotFailedDag()
			}
			d.State, d.Operator = obcluster.StateSucceed, obcluster.OperatorPass
		}
		return nil, nil
	}
	return nil, obshell.NewNotFound("404 not found")
}
