package api

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/workflows"
)

// authCase is one identity/header combination on a verified route. A
// request that passes auth reaches the handler, which answers 404
// Task.NotFound "Agent is not under maintenance" (no DAG in these
// registries); status 0 means "passes".
type authCase struct {
	name    string
	srv     *Server
	auth    authReq
	status  int
	errCode string
	code    int
	message string
}

func (c authCase) run(t *testing.T, casing hybridauth.Casing) {
	t.Helper()
	a := c.auth
	a.casing = casing
	want := errCase{c.name, c.srv, "GET", "/api/v1/task/dag/maintain/agent", nil, a, c.status, c.errCode, c.code, c.message}
	if c.status == 0 {
		want.status, want.errCode, want.message = 404, "Task.NotFound", "Task not found: Agent is not under maintenance"
	}
	want.run(t)
}

func ptr(s string) *string { return &s }

// TestAgentPasswordAuth: CONTRACT.md §5.5's rules for each identity and header
// (X-OCS-Header = OceanBase password, X-OCS-Agent-Header = agent
// password), in both SDK casings.
func TestAgentPasswordAuth(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	const (
		mIP, fIP, spIP, snIP = "127.0.3.50", "127.0.3.51", "127.0.3.52", "127.0.3.53"
		m2IP, f2IP           = "127.0.3.54", "127.0.3.55"
		caIP, ca2IP          = "127.0.3.56", "127.0.3.57"
		mPwd, sPwd, caPwd    = "agent-m", "agent-s", "agent-c"
	)
	addr := func(ip string) string { return ip + ":2886" }
	// Before cluster config: a master with an agent password, its
	// follower, a SINGLE agent with one and a SINGLE agent without.
	startRegistry(t, "registry-auth-a", workflows.RegistryState{
		Agents:         []obcluster.AgentRecord{record(mIP, "MASTER", "z1"), record(fIP, "FOLLOWER", "z1")},
		AgentPasswords: map[string]string{addr(mIP): mPwd, addr(spIP): sPwd},
	})
	// After cluster config stored the root password; no agent passwords.
	startRegistry(t, "registry-auth-b", workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(m2IP, "MASTER", "z1"), record(f2IP, "FOLLOWER", "z1")},
		RootPassword: tablePwd, RootPwdSet: true,
	})
	// After init: one CLUSTER AGENT with an agent password, one without.
	startRegistry(t, "registry-auth-c", workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(caIP, "CLUSTER AGENT", "z1"), record(ca2IP, "CLUSTER AGENT", "z1")},
		RootPassword: tablePwd, RootPwdSet: true, Initialized: true,
		AgentPasswords: map[string]string{addr(caIP): caPwd},
	})
	master := tableServer(t, "registry-auth-a", mIP, "")
	follower := tableServer(t, "registry-auth-a", fIP, "")
	singlePwd := tableServer(t, "registry-auth-a", spIP, "")
	single := tableServer(t, "registry-auth-a", snIP, "")
	master2 := tableServer(t, "registry-auth-b", m2IP, "")
	follower2 := tableServer(t, "registry-auth-b", f2IP, "")
	ca := tableServer(t, "registry-auth-c", caIP, "")
	ca2 := tableServer(t, "registry-auth-c", ca2IP, "")
	// The SDKs may send the agent password RSA-encrypted with the
	// receiver's key (53-byte chunks; one 1024-bit block = 172 chars).
	encrypted, err := hybridauth.EncryptBlocks(singlePwd.cfg.Key.Public(), []byte(sPwd), 53)
	if err != nil {
		t.Fatal(err)
	}
	past := hybridauth.ExpiryTs(time.Now(), -10*time.Second)

	const (
		withAgent   = "Security.Authentication.WithAgentPassword"
		withOB      = "Security.Authentication.WithOceanBasePassword"
		wrongAgent  = "Security.Authentication.IncorrectAgentPassword"
		wrongOB     = "Security.Authentication.IncorrectOceanbasePassword"
		agentHeader = true
	)
	cases := []authCase{
		// SINGLE without an agent password: anything passes.
		{"SINGLE, no agent password, X-OCS-Header", single, authReq{pwd: "whatever"}, 0, "", 0, ""},
		{"SINGLE, no agent password, X-OCS-Agent-Header", single, authReq{agent: agentHeader, pwd: "whatever"}, 0, "", 0, ""},
		// SINGLE with one: only X-OCS-Agent-Header with it.
		{"SINGLE, agent password, X-OCS-Header", singlePwd, authReq{pwd: ""}, 401, withAgent, 10008, "Unauthorized: Should use agent_password to verify: agent password has been set"},
		{"SINGLE, agent password, right", singlePwd, authReq{agent: agentHeader, pwd: sPwd}, 0, "", 0, ""},
		{"SINGLE, agent password, RSA-encrypted", singlePwd, authReq{agent: agentHeader, pwd: encrypted}, 0, "", 0, ""},
		{"SINGLE, agent password, wrong", singlePwd, authReq{agent: agentHeader, pwd: "nope"}, 401, wrongAgent, 10008, "Unauthorized: Agent password is incorrect"},
		{"SINGLE, agent password, empty", singlePwd, authReq{agent: agentHeader}, 401, wrongAgent, 10008, "Unauthorized: Agent password is incorrect"},
		{"SINGLE, agent password, expired", singlePwd, authReq{agent: agentHeader, pwd: sPwd, ts: past}, 401, "Security.Authentication.Expired", 10008, "Unauthorized: Authentication expired"},
		// MASTER with an agent password, root password not yet set.
		{"MASTER, agent password, X-OCS-Header", master, authReq{pwd: ""}, 401, withAgent, 10008, "Unauthorized: Should use agent_password to verify: oceanbase password is not initialized"},
		{"MASTER, agent password, right", master, authReq{agent: agentHeader, pwd: mPwd}, 0, "", 0, ""},
		{"MASTER, agent password, wrong", master, authReq{agent: agentHeader, pwd: sPwd}, 401, wrongAgent, 10008, "Unauthorized: Agent password is incorrect"},
		// Its FOLLOWER: obshell forwards to the master, X-OCS-Header only.
		{"FOLLOWER, X-OCS-Agent-Header only", follower, authReq{agent: agentHeader, pwd: mPwd}, 500, "Request.Forward.Header.NotExist", 0, "Header not found when auto-forwarding request to master"},
		{"FOLLOWER, X-OCS-Header, master has an agent password", follower, authReq{pwd: ""}, 401, withAgent, 10008, "Unauthorized: Should use agent_password to verify: oceanbase password is not initialized"},
		{"FOLLOWER, both headers", follower, authReq{agent: agentHeader, pwd: mPwd, alsoOB: ptr("")}, 401, withAgent, 10008, "Unauthorized: Should use agent_password to verify: oceanbase password is not initialized"},
		// MASTER and FOLLOWER after the root password, no agent password.
		{"MASTER, root password, X-OCS-Agent-Header", master2, authReq{agent: agentHeader, pwd: tablePwd}, 401, withOB, 10008, "Unauthorized: Should use oceanbase_password to verify: agent password is not initialized"},
		{"MASTER, root password, right", master2, authReq{pwd: tablePwd}, 0, "", 0, ""},
		{"MASTER, root password, wrong", master2, authReq{pwd: "nope"}, 401, wrongOB, 10008, "Unauthorized: OceanBase password is incorrect"},
		{"FOLLOWER, root password, right", follower2, authReq{pwd: tablePwd}, 0, "", 0, ""},
		{"FOLLOWER, root password, both headers", follower2, authReq{agent: agentHeader, pwd: "ignored", alsoOB: ptr(tablePwd)}, 0, "", 0, ""},
		// CLUSTER AGENT: either credential once both exist.
		{"CLUSTER AGENT, agent password, right", ca, authReq{agent: agentHeader, pwd: caPwd}, 0, "", 0, ""},
		{"CLUSTER AGENT, agent password, wrong", ca, authReq{agent: agentHeader, pwd: tablePwd}, 401, wrongAgent, 10008, "Unauthorized: Agent password is incorrect"},
		{"CLUSTER AGENT, agent password set, X-OCS-Header", ca, authReq{pwd: tablePwd}, 0, "", 0, ""},
		{"CLUSTER AGENT, no agent password, X-OCS-Agent-Header", ca2, authReq{agent: agentHeader, pwd: tablePwd}, 401, withOB, 10008, "Unauthorized: Should use oceanbase_password to verify: agent password is not initialized"},
		{"CLUSTER AGENT, no agent password, X-OCS-Header", ca2, authReq{pwd: tablePwd}, 0, "", 0, ""},
	}
	for _, casing := range []hybridauth.Casing{hybridauth.CasingGo, hybridauth.CasingPython} {
		for _, c := range cases {
			t.Run(casing.String()+"/"+c.name, func(t *testing.T) { c.run(t, casing) })
		}
	}
	// Joining a master that has an agent password needs it as
	// masterPassword (obshell sends the joiner's token with it).
	join := func(pwd string) string {
		return `{"agentInfo":{"ip":"` + mIP + `","port":2886},"zoneName":"z9","masterPassword":"` + pwd + `"}`
	}
	errCase{"join with a wrong masterPassword", single, "POST", "/api/v1/agent/join", join("nope"), authReq{}, 401, wrongAgent, 10008, "Unauthorized: Agent password is incorrect"}.run(t)
	errCase{"join without masterPassword", single, "POST", "/api/v1/agent/join", `{"agentInfo":{"ip":"` + mIP + `","port":2886},"zoneName":"z9"}`, authReq{}, 401, wrongAgent, 10008, "Unauthorized: Agent password is incorrect"}.run(t)
	status, env := do(t, single.Handler(), newRequest(t, single.cfg.Key.Public(), "POST", "/api/v1/agent/join", join(mPwd), authReq{casing: hybridauth.CasingPython}))
	var joined obshell.DagDetailDTO
	if err := jsonUnmarshal(env.Data, &joined); status != 200 || err != nil || joined.Name != activities.JoinMasterName || joined.State != obcluster.StateReady {
		t.Fatalf("join with the master's agent password: %d %+v %v", status, env.Error, err)
	}

	// /api/v1/info reports an agent password as security.
	for _, s := range []*Server{singlePwd, single} {
		status, env := do(t, s.Handler(), newRequest(t, s.cfg.Key.Public(), "GET", "/api/v1/info", nil, authReq{none: true}))
		var info obshell.AgentStatus
		if err := jsonUnmarshal(env.Data, &info); status != 200 || err != nil || info.Security != (s == singlePwd) {
			t.Fatalf("info of %s: %d security=%v %v", s.self, status, info.Security, err)
		}
	}
}

// TestSetAgentPassword: POST /api/v1/agent/password and its own rules
// (obshell's VerifyForSetAgentPassword); the password lives in the
// registry and never in plaintext in Temporal history.
func TestSetAgentPassword(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	const (
		sIP, caIP, mIP = "127.0.3.60", "127.0.3.61", "127.0.3.62"
		first, second  = "first-Agent#pw-7f3a", "second-Agent#pw-91c2"
		reg            = "registry-agent-password"
	)
	startRegistry(t, reg, workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(caIP, "CLUSTER AGENT", "z1")},
		RootPassword: tablePwd, RootPwdSet: true, Initialized: true,
	})
	startRegistry(t, reg+"-b", workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(mIP, "MASTER", "z1")},
		RootPassword: tablePwd, RootPwdSet: true,
	})
	single := tableServer(t, reg, sIP, "")
	ca := tableServer(t, reg, caIP, "")
	master := tableServer(t, reg+"-b", mIP, "")
	const uri = "/api/v1/agent/password"
	set := func(s *Server, pwd string, a authReq) {
		t.Helper()
		status, env := do(t, s.Handler(), newRequest(t, s.cfg.Key.Public(), "POST", uri, map[string]string{"password": pwd}, a))
		if status != 200 || env.Data != nil {
			t.Fatalf("set the agent password of %s: %d %+v", s.self, status, env.Error)
		}
	}
	body := func(pwd string) string { return `{"password":"` + pwd + `"}` }

	// A SINGLE agent without one accepts anything; then only its agent
	// password may change it, in either casing.
	set(single, first, authReq{pwd: "anything"})
	errCase{"set again with X-OCS-Header", single, "POST", uri, body(second), authReq{pwd: first}, 401, "Security.Authentication.WithAgentPassword", 10008, "Unauthorized: Should use agent_password to verify: agent password has been set"}.run(t)
	errCase{"set again with a wrong agent password", single, "POST", uri, body(second), authReq{agent: true, pwd: "nope"}, 401, "Security.Authentication.IncorrectAgentPassword", 10008, "Unauthorized: Agent password is incorrect"}.run(t)
	set(single, second, authReq{agent: true, pwd: first, casing: hybridauth.CasingPython})
	errCase{"old agent password", single, "GET", "/api/v1/task/dag/maintain/agent", nil, authReq{agent: true, pwd: first}, 401, "Security.Authentication.IncorrectAgentPassword", 10008, "Unauthorized: Agent password is incorrect"}.run(t)
	errCase{"new agent password", single, "GET", "/api/v1/task/dag/maintain/agent", nil, authReq{agent: true, pwd: second, casing: hybridauth.CasingGo}, 404, "Task.NotFound", 0, "Task not found: Agent is not under maintenance"}.run(t)
	errCase{"empty password", single, "POST", uri, `{"password":""}`, authReq{agent: true, pwd: second}, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: Key: 'SetAgentPasswordParam.Password' Error:Field validation for 'Password' failed on the 'required' tag"}.run(t)
	errCase{"no header", single, "POST", uri, body(first), authReq{none: true}, 400, "Request.Header.NotFound", 0, "X-OCS-Agent-Header or X-OCS-Header not found in http request header"}.run(t)

	// A CLUSTER AGENT without one: the OceanBase password sets it.
	errCase{"cluster agent, X-OCS-Agent-Header", ca, "POST", uri, body(first), authReq{agent: true, pwd: tablePwd}, 401, "Security.Authentication.WithOceanBasePassword", 10008, "Unauthorized: Should use oceanbase_password to verify: oceanbase password has been set"}.run(t)
	errCase{"cluster agent, wrong root password", ca, "POST", uri, body(first), authReq{pwd: "nope"}, 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "Unauthorized: OceanBase password is incorrect"}.run(t)
	set(ca, first, authReq{pwd: tablePwd})
	errCase{"cluster agent, agent password now", ca, "GET", "/api/v1/task/dag/maintain/agent", nil, authReq{agent: true, pwd: first}, 404, "Task.NotFound", 0, "Task not found: Agent is not under maintenance"}.run(t)

	// A MASTER without one: the usual rules (obshell fails with a panic).
	errCase{"master, wrong root password", master, "POST", uri, body(first), authReq{pwd: "nope"}, 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "Unauthorized: OceanBase password is incorrect"}.run(t)
	set(master, first, authReq{pwd: tablePwd})

	// The registry holds them; its history holds them only encrypted.
	st, err := single.reg.refresh(context.Background())
	if err != nil || st.AgentPasswords[single.self.String()] != second || st.AgentPasswords[ca.self.String()] != first {
		t.Fatalf("registry agent passwords: %v", err)
	}
	for _, id := range []string{reg, reg + "-b"} {
		raw := rawHistory(t, id)
		for _, secret := range []string{first, second, tablePwd} {
			if strings.Contains(raw, secret) {
				t.Errorf("history of %s contains %q in plaintext", id, secret)
			}
		}
		if id == reg && !strings.Contains(raw, workflows.UpdateSetAgentPassword) {
			t.Errorf("history of %s has no %s Update: the scan would not see the password", id, workflows.UpdateSetAgentPassword)
		}
		if !strings.Contains(raw, payloadcodec.MetadataEncoding) {
			t.Errorf("history of %s has no codec-encrypted payload", id)
		}
	}
}

// rawHistory is a workflow's history as stored (payloads as the codec
// wrote them), as protojson text: payload data is base64 there, so the
// payload bytes are decoded too before searching.
func rawHistory(t *testing.T, id string) string {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := temporalClient.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	b, err := protojson.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.Write(b)
	for _, ev := range events {
		// The wire form of every event, payload bytes unencoded.
		pb, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(pb)
	}
	return sb.String()
}

// TestAgentPasswordFlow: the whole cluster creation over HTTP with an
// agent password on the master (the Python SDK's agent_passwords): set
// while SINGLE, then X-OCS-Agent-Header for join self, config and init,
// masterPassword for the follower's join; the root password works beside
// it once stored, and after init the agent without one still requires
// the root password.
func TestAgentPasswordFlow(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-agent-flow", "127.0.3.96", "127.0.3.97")
	ctx := context.Background()
	const agentPwd = "Agent'pw#96"
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}

	plain := newClient(t, hosts[0].addr(), hybridauth.CasingGo, "")
	if err := plain.SetAgentPassword(ctx, agentPwd); err != nil {
		t.Fatal(err)
	}
	if info, err := plain.Info(ctx); err != nil || !info.Security {
		t.Fatalf("info after setting the agent password: %+v %v", info, err)
	}
	_, err := plain.GetAgentDags(ctx)
	wantAPIError(t, err, 401, "Security.Authentication.WithAgentPassword", "Unauthorized: Should use agent_password to verify: agent password has been set")

	master, err := obshellclient.New(hosts[0].addr(), obshellclient.WithCasing(hybridauth.CasingPython), obshellclient.WithAgentPassword(agentPwd))
	if err != nil {
		t.Fatal(err)
	}
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z1"})
	waitOK(t, master, dag, err)

	follower := newClient(t, hosts[1].addr(), hybridauth.CasingGo, "")
	_, err = follower.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z2", MasterPassword: "wrong"})
	wantAPIError(t, err, 401, "Security.Authentication.IncorrectAgentPassword", "Unauthorized: Agent password is incorrect")
	py := newClient(t, hosts[1].addr(), hybridauth.CasingPython, "")
	dag, err = py.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z2", MasterPassword: agentPwd})
	waitOK(t, master, dag, err)

	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "GLOBAL"}})
	waitOK(t, master, dag, err)
	name, id, pwd := "obflow-agent-pw", 41, rootPwd
	dag, err = master.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: &name, ClusterID: &id, RootPwd: &pwd})
	waitOK(t, master, dag, err)
	root := newClient(t, hosts[0].addr(), hybridauth.CasingGo, rootPwd)
	if _, err := root.GetAgentDags(ctx); err != nil {
		t.Fatalf("root password after cluster config: %v", err)
	}
	dag, err = master.Init(ctx, obshell.ObInitParam{})
	initDag := waitOK(t, master, dag, err)
	checkInitialized(t, hosts, initDag, root)

	if got, err := master.GetDag(ctx, initDag.GenericID); err != nil || got.State != obcluster.StateSucceed {
		t.Fatalf("CLUSTER AGENT with its agent password: %+v %v", got, err)
	}
	onFollower, err := obshellclient.New(hosts[1].addr(), obshellclient.WithAgentPassword(agentPwd))
	if err != nil {
		t.Fatal(err)
	}
	_, err = onFollower.GetDag(ctx, initDag.GenericID)
	wantAPIError(t, err, 401, "Security.Authentication.WithOceanBasePassword", "Unauthorized: Should use oceanbase_password to verify: agent password is not initialized")
}
