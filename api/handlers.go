package api

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/dagview"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

func (s *Server) info(c echo.Context) error {
	st := s.reg.snapshot()
	rec, _ := st.Agent(s.self.String())
	identity := st.Identity(s.self.String())
	zone := ""
	if identity != obcluster.IdentitySingle {
		zone = rec.Zone
	}
	return ok(c, obshell.AgentStatus{
		Pid: pid(), State: obshell.ServiceStateRunning, StartAt: s.startAt,
		HomePath: s.cfg.HomePath, OBVersion: s.cfg.OBVersion, Architecture: obcluster.Architecture(runtime.GOARCH),
		IP: s.cfg.IP, Port: s.cfg.Port, Zone: zone, Identity: identity, Version: s.cfg.Version,
		SupportedAuth: []string{obshell.AuthV2},
		Security:      st.AgentPasswords[s.self.String()] != "",
	})
}

// agentPassword is POST /api/v1/agent/password (obshell's
// agentSetPasswordHandler): it stores this agent's password; 200 without
// data. The route is verified by verifySetAgentPassword.
func (s *Server) agentPassword(c echo.Context) error {
	var p obshell.SetAgentPasswordParam
	if err := bind(c, &p); err != nil {
		return err
	}
	return s.reg.setAgentPassword(c.Request().Context(), s.self.String(), p.Password)
}

func (s *Server) status(c echo.Context) error {
	st := s.reg.snapshot()
	obState, sqlPort := s.obState.get(c.Request().Context())
	return ok(c, obshell.ServerStatus{
		Agent:   obshell.AgentInfoWithIdentity{IP: s.cfg.IP, Port: s.cfg.Port, Identity: st.Identity(s.self.String())},
		State:   obshell.ServiceStateRunning,
		Version: s.cfg.Version, Pid: pid(), StartAt: s.startAt, Port: s.cfg.Port,
		OBState: obState, SQLPort: sqlPort,
		UnderMaintenance: st.Locks[s.self.String()] != "",
	})
}

func (s *Server) secret(c echo.Context) error {
	return ok(c, obshell.AgentSecret{IP: s.cfg.IP, Port: s.cfg.Port, PublicKey: s.cfg.Key.PublicKeyBase64()})
}

func (s *Server) timeNow(c echo.Context) error { return ok(c, time.Now()) }

// fresh is the registry state as of now, for routes that change it (the
// snapshot may be up to a refresh interval old); the last snapshot when
// the registry does not answer.
func (s *Server) fresh(c echo.Context) *workflows.RegistryState {
	st, err := s.reg.refresh(c.Request().Context())
	if err != nil {
		s.logger.Warn("registry query failed; using the last snapshot", "err", err)
	}
	return st
}

// newDagDTO is the reply of every DAG-creating route: the new DAG,
// READY/RUN at stage 1, without nodes (CONTRACT.md §3.1).
func newDagDTO(r workflows.CreateDagResponse) *obshell.DagDetailDTO {
	t := obshell.LocalTime(r.Created)
	return &obshell.DagDetailDTO{
		GenericID: r.GenericID, DagID: r.DagID, Name: r.Name, Stage: 1, MaxStage: r.MaxStage,
		MaintenanceType: r.MaintenanceType,
		TaskStatusDTO:   obshell.TaskStatusDTO{State: obcluster.StateReady, Operator: obcluster.OperatorRun, StartTime: t, EndTime: t},
	}
}

func (s *Server) create(c echo.Context, req workflows.CreateDagRequest) error {
	req.Options = s.cfg.PlanOptions
	ctx := c.Request().Context()
	for {
		resp, err := s.reg.createDag(ctx, req)
		if err == nil {
			return ok(c, newDagDTO(resp))
		}
		if !obshell.HasCode(err, obshell.CodeAgentUnderMaintenance) || !s.lockHolderClosed(ctx) {
			return err
		}
		// The DAG holding the lock has closed, and the registry learns it
		// from its child's close event a moment later: a client that saw
		// the DAG finish must not be refused for that moment.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockHolderClosed tells whether every lock in the snapshot is held by a
// DAG whose workflow has already closed.
func (s *Server) lockHolderClosed(ctx context.Context) bool {
	st, _ := s.reg.refresh(ctx)
	if len(st.Locks) == 0 {
		return true
	}
	for _, gid := range st.Locks {
		v, err := s.views.load(ctx, gid)
		if err != nil || !v.Closed {
			return false
		}
	}
	return true
}

// join is POST /api/v1/agent/join (CONTRACT.md §3.5).
func (s *Server) join(c echo.Context) error {
	var p obshell.JoinApiParam
	if err := bind(c, &p); err != nil {
		return err
	}
	st := s.fresh(c)
	self := s.self.String()
	if id := st.Identity(self); id != obcluster.IdentitySingle {
		return obshell.NewIdentifyNotSupportOperation(self, id, string(obcluster.IdentitySingle))
	}
	rec := s.selfRecord(p.ZoneName)
	if p.AgentInfo == s.self {
		return s.create(c, workflows.CreateDagRequest{Name: activities.JoinSelfName, Owner: rec,
			Change: obcluster.RegistryChange{Agent: rec}})
	}
	target := p.AgentInfo.String()
	m, found := st.Agent(target)
	if id := st.Identity(target); !found || id != obcluster.IdentityMaster {
		return obshell.NewIdentifyNotSupportOperation(target, id, string(obcluster.IdentityMaster))
	}
	// obshell names the master first, then this agent.
	if m.Version != s.cfg.Version {
		return obshell.NewVersionInconsistent(target, m.Version, self, s.cfg.Version)
	}
	if m.OBVersion != s.cfg.OBVersion {
		return obshell.NewOBVersionInconsistent(target, m.OBVersion, self, s.cfg.OBVersion)
	}
	// obshell sends this agent's token to the master with masterPassword
	// as the master's agent password; a master that has one refuses a
	// wrong one, and the join fails with that refusal.
	if want := st.AgentPasswords[target]; want != "" && !hybridauth.PasswordEqual(p.MasterPassword, want) {
		return obshell.WrapRetain(obshell.CodeCommonUnauthorized, obshell.NewIncorrectAgentPassword())
	}
	return s.create(c, workflows.CreateDagRequest{Name: activities.JoinMasterName, Owner: rec,
		Change: obcluster.RegistryChange{Agent: rec, Master: p.AgentInfo}})
}

// remove is POST /api/v1/agent/remove and DELETE /api/v1/agent (CONTRACT.md
// §3.6), with obshell's agentRemoveHandler switch on this agent's
// identity: a MASTER removes a follower ("Remove follower agent
// <ip:port>") or, asked to remove itself, every agent ("Remove all
// agents"); a FOLLOWER removes itself ("Follower remove self") or hands
// the request to the master (obshell forwards it; here the master owns
// the DAG); a SINGLE agent removing itself has nothing to do (204); every
// other case is Agent.Identify.NotSupportOperation.
func (s *Server) remove(c echo.Context) error {
	var p obshell.AgentRemoveParam
	if err := bind(c, &p); err != nil {
		return err
	}
	st := s.fresh(c)
	self := s.self.String()
	target := p.AgentInfo()
	switch id := st.Identity(self); id {
	case obcluster.IdentityFollower:
		m, ok := st.Master()
		if !ok {
			return obshell.NewNoMaster()
		}
		if master := m.Agent.String(); st.Locks[master] != "" {
			return obshell.NewUnderMaintenance(master)
		}
		if target != s.self {
			return s.masterRemove(c, st, m, target)
		}
		rec, _ := st.Agent(self)
		return s.create(c, workflows.CreateDagRequest{Name: workflows.FollowerRemoveSelfName, Owner: rec,
			Change: obcluster.RegistryChange{Agent: rec}})
	case obcluster.IdentityMaster:
		m, _ := st.Agent(self)
		return s.masterRemove(c, st, m, target)
	case obcluster.IdentitySingle:
		if target == s.self {
			return noContent(c)
		}
		return obshell.NewIdentifyNotSupportOperation(self, id, "MASTER or FOLLOWER")
	default:
		return obshell.NewIdentifyNotSupportOperation(self, id, "MASTER or FOLLOWER")
	}
}

// masterRemove is the MASTER's part of agentRemoveHandler, for the master
// m: refused while the master is under maintenance, 204 when target is
// not a member.
func (s *Server) masterRemove(c echo.Context, st *workflows.RegistryState, m obcluster.AgentRecord, target obcluster.Agent) error {
	master := m.Agent.String()
	if st.Locks[master] != "" {
		return obshell.NewUnderMaintenance(master)
	}
	if target.String() == master {
		return s.create(c, workflows.CreateDagRequest{Name: workflows.RemoveAllAgentsName, Owner: m,
			Change: obcluster.RegistryChange{Agent: m}})
	}
	rec, member := st.Agent(target.String())
	if !member {
		return noContent(c)
	}
	return s.create(c, workflows.CreateDagRequest{Name: workflows.RemoveFollowerDagName(rec.Agent), Owner: m,
		Change: obcluster.RegistryChange{Agent: rec}})
}

// maintenanceOwner is the agent whose lock guards cluster-level changes:
// the master (a FOLLOWER's request is obshell's forwarded request).
func (s *Server) maintenanceOwner(st *workflows.RegistryState) string {
	if m, ok := st.Master(); ok {
		return m.Agent.String()
	}
	return ""
}

// masterOwner applies obshell's identity switch of config and init
// (CONTRACT.md §3.8): MASTER handles it, FOLLOWER "forwards" (the master owns the
// DAG), CLUSTER AGENT → AlreadyInitialized, others → NotSupportOperation.
func (s *Server) masterOwner(st *workflows.RegistryState) (obcluster.AgentRecord, error) {
	self := s.self.String()
	switch id := st.Identity(self); id {
	case obcluster.IdentityMaster, obcluster.IdentityFollower:
		m, ok := st.Master()
		if !ok {
			return obcluster.AgentRecord{}, obshell.NewNoMaster()
		}
		return m, nil
	case obcluster.IdentityClusterAgent:
		return obcluster.AgentRecord{}, obshell.NewClusterAlreadyInitialized()
	default:
		return obcluster.AgentRecord{}, obshell.NewIdentifyNotSupportOperation(self, id, "MASTER or FOLLOWER")
	}
}

// obclusterConfig is POST|PUT /api/v1/obcluster/config (CONTRACT.md §3.8).
func (s *Server) obclusterConfig(c echo.Context) error {
	var p obshell.ObClusterConfigParams
	if err := bind(c, &p); err != nil {
		return err
	}
	if err := p.Check(); err != nil {
		return err
	}
	owner, err := s.masterOwner(s.fresh(c))
	if err != nil {
		return err
	}
	cc := &obcluster.ClusterConfig{Name: *p.ClusterName, ID: int64(*p.ClusterID)}
	if p.RsList != nil && *p.RsList != "" {
		if _, err := obshell.ParseRsList(*p.RsList); err != nil {
			return err
		}
		cc.RsList = *p.RsList
	}
	change := obcluster.RegistryChange{Cluster: cc}
	if p.RootPwd != nil {
		pwd := *p.RootPwd
		// parseRootPwd: a value as long as one RSA-1024 block may be the
		// password encrypted with this agent's key (SDKs < 4.2.4 agents).
		if len(pwd) >= 172 {
			if plain, ok := s.cfg.Key.TryDecryptPassword(pwd); ok {
				pwd = plain
			}
		}
		change.RootPassword = &pwd
	}
	return s.create(c, workflows.CreateDagRequest{Name: activities.UpdateClusterConfigName, Owner: owner, Change: change})
}

// observerConfig is POST|PUT /api/v1/observer/config (CONTRACT.md §3.9).
func (s *Server) observerConfig(c echo.Context) error {
	var p obshell.ObServerConfigParams
	if err := bind(c, &p); err != nil {
		return err
	}
	if err := p.Check(); err != nil {
		return err
	}
	st := s.fresh(c)
	owner, err := s.masterOwner(st)
	if err != nil {
		return err
	}
	if err := obshell.ValidateScope(c.Request().Context(), &p.Scope, snapshotChecker{st}); err != nil {
		return err
	}
	targets := p.Scope.Target
	if p.Scope.Type == obshell.ScopeServer {
		targets = make([]string, len(p.Scope.Target))
		for i, t := range p.Scope.Target {
			a, err := obshell.ParseAgentAddress(t)
			if err != nil {
				return err
			}
			targets[i] = a.String()
		}
	}
	if p.Scope.Type == obshell.ScopeGlobal {
		targets = nil
	}
	config := make(map[string]string, len(p.ObServerConfig))
	for k, v := range p.ObServerConfig {
		config[k] = v
	}
	if err := obshell.NormalizeLegacyPorts(config); err != nil {
		return err
	}
	return s.create(c, workflows.CreateDagRequest{Name: activities.UpdateObserverConfigName, Owner: owner,
		Change: obcluster.RegistryChange{ScopeType: p.Scope.Type, Targets: targets, Config: config}})
}

// snapshotChecker answers ValidateScope from the registry snapshot.
type snapshotChecker struct{ st *workflows.RegistryState }

func (k snapshotChecker) ZoneExists(_ context.Context, zone string) (bool, error) {
	return k.st.ZoneExists(zone), nil
}

func (k snapshotChecker) AgentExists(_ context.Context, a obcluster.Agent) (bool, error) {
	rec, ok := k.st.Agent(a.String())
	return ok && rec.Identity != "", nil
}

// obInit is POST /api/v1/ob/init (CONTRACT.md §3.10).
func (s *Server) obInit(c echo.Context) error {
	var p obshell.ObInitParam
	if err := bind(c, &p); err != nil {
		return err
	}
	owner, err := s.masterOwner(s.fresh(c))
	if err != nil {
		return err
	}
	return s.create(c, workflows.CreateDagRequest{
		Name: workflows.InitializeClusterName, Owner: owner,
		ImportScript: p.ImportScript, CreateProxyroUser: p.CreateProxyroUser, ProxyroPassword: p.ProxyroPassword,
	})
}

// showDetails reads ?show_details (default true).
func showDetails(c echo.Context) (bool, error) {
	q := c.Request().URL.Query()
	v, present := q["show_details"]
	val := ""
	if present && len(v) > 0 {
		val = v[0]
	}
	return obshell.ParseShowDetails(val, present)
}

// localID parses a generic id; obflow stores every DAG agent-locally
// (prefix 2/3), so cluster and obproxy ids name nothing.
func localID(c echo.Context) (obshell.GenericID, error) {
	g, err := obshell.ParseGenericID(c.Param("id"))
	if err != nil {
		return g, err
	}
	if !g.IsLocal() {
		return g, obshell.NewTaskNotFoundReason("record not found")
	}
	return g, nil
}

func (s *Server) getDag(c echo.Context) error {
	details, err := showDetails(c)
	if err != nil {
		return err
	}
	g, err := localID(c)
	if err != nil {
		return err
	}
	data, err := s.views.dagData(c.Request().Context(), g.String(), details)
	if err != nil {
		return err
	}
	return ok(c, data)
}

// operateDag is POST /api/v1/task/dag/:id: the operator is the DAG
// workflow's Update of the same name, whose validator applies CONTRACT.md §6.4.
func (s *Server) operateDag(c echo.Context) error {
	g, err := localID(c)
	if err != nil {
		return err
	}
	var p obshell.DagOperator
	if err := bind(c, &p); err != nil {
		return err
	}
	v, err := s.views.load(c.Request().Context(), g.String())
	if err != nil {
		return err
	}
	op, err := obshell.ParseDagOperator(p.Operator)
	if err != nil {
		return err
	}
	if v.Closed {
		return finishedDagError(op, v)
	}
	if err := s.update(c.Request().Context(), g.String(), op.String()); err != nil {
		if isClosedErr(err) {
			return finishedDagError(op, v)
		}
		return err
	}
	return nil
}

// finishedDagError is the rejection of an operator on a DAG whose workflow
// closed (SUCCEED, or FAILED and expired): nothing can change it any more.
func finishedDagError(op obcluster.Operator, v *dagview.View) error {
	switch op {
	case obcluster.OperatorRetry:
		return obshell.NewRetryNotFailedDag()
	case obcluster.OperatorRollback:
		return obshell.NewRollbackNotFailedDag()
	case obcluster.OperatorCancel:
		return obshell.NewCancelFinishedDag()
	case obcluster.OperatorPass:
		if v.Dag.State == obcluster.StateFailed {
			return obshell.NewPassNotAllowed(v.Dag.Name)
		}
		return obshell.NewPassNotFailedDag()
	}
	return obshell.NewDagOperatorNotSupport(op.String())
}

func isClosedErr(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// update runs an operator Update on a DAG workflow and maps its rejection
// to the obshell error the validator chose.
func (s *Server) update(ctx context.Context, gid, name string, args ...any) error {
	h, err := s.cfg.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID(gid), UpdateName: name, Args: args,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil {
		return nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() != "" {
		return obshell.FromWire(app.Type(), app.Message())
	}
	return err
}

// nodeView resolves a node id to its DAG's view.
func (s *Server) nodeView(c echo.Context) (*dagview.View, int64, int, error) {
	g, err := localID(c)
	if err != nil {
		return nil, 0, 0, err
	}
	dagID, stage, valid := obshell.SplitNodeID(g.ID)
	if !valid {
		return nil, 0, 0, obshell.NewTaskNotFoundReason("record not found")
	}
	v, err := s.views.load(c.Request().Context(), g.WithID(dagID).String())
	if err != nil {
		return nil, 0, 0, err
	}
	return v, g.ID, stage, nil
}

func (s *Server) getNode(c echo.Context) error {
	details, err := showDetails(c)
	if err != nil {
		return err
	}
	v, nodeID, _, err := s.nodeView(c)
	if err != nil {
		return err
	}
	n, found := v.Node(nodeID)
	if !found {
		return obshell.NewTaskNotFoundReason("record not found")
	}
	if !details { // obshell panics here; obflow answers without sub-tasks
		cp := *n
		cp.SubTasks = nil
		return ok(c, &cp)
	}
	return ok(c, n)
}

func (s *Server) operateNode(c echo.Context) error {
	var p obshell.NodeOperator
	v, nodeID, stage, err := s.nodeView(c)
	if err != nil {
		return err
	}
	if err := bind(c, &p); err != nil {
		return err
	}
	if _, err := obshell.ParseNodeOperator(p.Operator); err != nil {
		return err
	}
	if _, found := v.Node(nodeID); !found {
		return obshell.NewTaskNotFoundReason("record not found")
	}
	if v.Closed {
		return obshell.NewNodePassNotFailedDag()
	}
	err = s.update(c.Request().Context(), v.Dag.GenericID, workflows.UpdatePassNode, stage)
	if err != nil && isClosedErr(err) {
		return obshell.NewNodePassNotFailedDag()
	}
	return err
}

func (s *Server) subTaskView(c echo.Context) (*dagview.View, int64, error) {
	g, err := localID(c)
	if err != nil {
		return nil, 0, err
	}
	dagID, _, _, valid := obshell.SplitSubTaskID(g.ID)
	if !valid {
		return nil, 0, obshell.NewTaskNotFoundReason("record not found")
	}
	v, err := s.views.load(c.Request().Context(), g.WithID(dagID).String())
	if err != nil {
		return nil, 0, err
	}
	if _, found := v.SubTask(g.ID); !found {
		return nil, 0, obshell.NewTaskNotFoundReason("record not found")
	}
	return v, g.ID, nil
}

func (s *Server) getSubTask(c echo.Context) error {
	v, id, err := s.subTaskView(c)
	if err != nil {
		return err
	}
	t, _ := v.SubTask(id)
	return ok(c, t)
}

func (s *Server) getSubTaskLogs(c echo.Context) error {
	v, id, err := s.subTaskView(c)
	if err != nil {
		return err
	}
	rows := v.Logs[id]
	if rows == nil {
		rows = []obshell.SubTaskLogDTO{}
	}
	return ok(c, rows)
}

// summaries loads the DTOs of refs in order, with nodes when details
// (show_details, as GET /task/dag/:id).
func (s *Server) summaries(ctx context.Context, refs []workflows.DagRef, details bool) ([]*obshell.DagDetailDTO, error) {
	out := make([]*obshell.DagDetailDTO, 0, len(refs))
	for _, r := range refs {
		v, err := s.views.load(ctx, r.GenericID)
		if err != nil {
			if obshell.HasCode(err, obshell.CodeTaskNotFound) {
				continue // its workflow is past retention
			}
			return nil, err
		}
		out = append(out, dto(v, details))
	}
	return out, nil
}

// dto is a view's DagDetailDTO with or without nodes.
func dto(v *dagview.View, details bool) *obshell.DagDetailDTO {
	if details {
		return v.Dag
	}
	return v.Summary()
}

// lastMaintenance is the newest maintenance DAG of owner. obshell binds
// show_details (default true) on every task route, so the SDKs get nodes,
// sub-tasks and logs here unless they ask otherwise.
func (s *Server) lastMaintenance(c echo.Context, owner, what string) error {
	details, err := showDetails(c)
	if err != nil {
		return err
	}
	list := s.reg.snapshot().Dags[owner]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Maintenance {
			v, err := s.views.load(c.Request().Context(), list[i].GenericID)
			if err != nil {
				return err
			}
			return ok(c, dto(v, details))
		}
	}
	return obshell.NewTaskNotFoundReason(what + " is not under maintenance")
}

func (s *Server) lastMaintenanceAgent(c echo.Context) error {
	return s.lastMaintenance(c, s.self.String(), "Agent")
}

// lastMaintenanceOB: the cluster's DAGs (config, init) belong to the master.
func (s *Server) lastMaintenanceOB(c echo.Context) error {
	return s.lastMaintenance(c, s.maintenanceOwner(s.reg.snapshot()), "Cluster")
}

func (s *Server) lastMaintenanceAgents(c echo.Context) error {
	details, err := showDetails(c)
	if err != nil {
		return err
	}
	st := s.reg.snapshot()
	owners := []string{s.self.String()}
	for _, a := range st.Agents {
		if addr := a.Agent.String(); !slices.Contains(owners, addr) {
			owners = append(owners, addr)
		}
	}
	var refs []workflows.DagRef
	for _, o := range owners {
		list := st.Dags[o]
		for i := len(list) - 1; i >= 0; i-- {
			if list[i].Maintenance {
				refs = append(refs, list[i])
				break
			}
		}
	}
	out, err := s.summaries(c.Request().Context(), refs, details)
	if err != nil {
		return err
	}
	return ok(c, out)
}

// dags lists the DAGs of owner ("" = every agent), unfinished ones only
// when unfinished: READY/RUNNING plus FAILED maintenance DAGs, i.e. every
// DAG whose workflow is open (CONTRACT.md §3.12, §6.5).
func (s *Server) dags(c echo.Context, owner string, unfinished bool) error {
	details, err := showDetails(c)
	if err != nil {
		return err
	}
	st := s.reg.snapshot()
	var refs []workflows.DagRef
	for o, list := range st.Dags {
		if owner != "" && o != owner {
			continue
		}
		for _, r := range list {
			if !unfinished || !r.Closed {
				refs = append(refs, r)
			}
		}
	}
	slices.SortFunc(refs, func(a, b workflows.DagRef) int { return a.Created.Compare(b.Created) })
	out, err := s.summaries(c.Request().Context(), refs, details)
	if err != nil {
		return err
	}
	if unfinished {
		out = slices.DeleteFunc(out, func(d *obshell.DagDetailDTO) bool { return d.State == obcluster.StateSucceed })
	}
	return ok(c, out)
}

func (s *Server) unfinished(c echo.Context) error {
	if s.reg.snapshot().Identity(s.self.String()) == obcluster.IdentityClusterAgent {
		return s.dags(c, "", true)
	}
	return s.dags(c, s.self.String(), true)
}

func (s *Server) agentUnfinished(c echo.Context) error { return s.dags(c, s.self.String(), true) }
func (s *Server) clusterUnfinished(c echo.Context) error {
	return s.dags(c, "", true)
}
func (s *Server) agentDags(c echo.Context) error   { return s.dags(c, s.self.String(), false) }
func (s *Server) clusterDags(c echo.Context) error { return s.dags(c, "", false) }
