package obshell

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/obflow/obflow/internal/obcluster"
)

func TestConstructors(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		err     *Error
		status  int
		errCode string
		code    int
		message string
	}{
		{NewBadRequest("x"), 400, "Common.BadRequest", 0, "Bad request: x"},
		{NewBindJSONFailed(cause), 400, "Common.BindJsonFailed", 0, "Bind JSON failed: boom"},
		{NewNotFound("404 not found"), 404, "Common.NotFound", 0, "Element not found: 404 not found"},
		{NewIllegalArgument("x"), 400, "Common.IllegalArgument", 0, "Illegal argument: x"},
		{NewIllegalParameter("observerConfig", "config is empty"), 400, "Common.IllegalArgument", 0, "The input parameter 'observerConfig' is illegal: config is empty"},
		{NewInvalidPort("80"), 400, "Common.InvalidPort", 0, "The port '80' is invalid, must be in [1024, 65535]"},
		{NewInvalidIP("1.2.3"), 400, "Common.InvalidIp", 0, "'1.2.3' is not a valid IP address"},
		{NewInvalidAddress("a:b:c"), 400, "Common.InvalidAddress", 0, "'a:b:c' is not a valid address"},
		{NewDirNotEmpty("/d"), 500, "Common.DirNotEmpty", 0, "Directory '/d' is not empty"},
		{NewUnexpected("x"), 500, "Common.Unexpected", 0, "Unexpected error: x"},
		{NewUnauthorized(), 401, "Common.Unauthorized", 10008, "Unauthorized"},
		{NewHeaderDecryptFailed(cause), 401, "Security.Authentication.Header.DecryptFailed", 1, "Decrypt http header failed: boom"},
		{NewURIMismatch(), 401, "Security.Authentication.Header.UriMismatch", 10008, "URI mismatch"},
		{NewAuthExpired(), 401, "Security.Authentication.Expired", 10008, "Authentication expired"},
		{NewTimestampInvalid("x", cause), 401, "Security.Authentication.Timestamp.Invalid", 10008, "Invalid timestamp: x, err: boom"},
		{NewIncorrectOceanBasePassword(), 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "OceanBase password is incorrect"},
		{NewIncorrectAgentPassword(), 401, "Security.Authentication.IncorrectAgentPassword", 10008, "Agent password is incorrect"},
		{NewIncorrectToken(), 401, "Security.Authentication.IncorrectToken", 10008, "Incorrect token"},
		{NewWithAgentPassword("agent password has been set"), 401, "Security.Authentication.WithAgentPassword", 10008, "Should use agent_password to verify: agent password has been set"},
		{NewWithOceanBasePassword("x"), 401, "Security.Authentication.WithOceanBasePassword", 10008, "Should use oceanbase_password to verify: x"},
		{NewAgentPasswordNotInitialized(), 401, "Security.Authentication.AgentPasswordNotInitialized", 10008, "Agent password is not initialized"},
		{NewUnknownPasswordType(), 401, "Security.Authentication.UnknownPasswordType", 10008, "Unknown password type"},
		{NewAuthenticationFailed(), 401, "Security.Authentication.Unauthorized", 10008, "Authentication failed"},
		{NewPermissionDenied(), 401, "Security.User.PermissionDenied", 0, "Permission denied"},
		{NewDecryptFailed(cause), 500, "Security.DecryptFailed", 0, "Decrypt failed: boom"},
		{NewHeaderNotFound(), 400, "Request.Header.NotFound", 0, "X-OCS-Agent-Header or X-OCS-Header not found in http request header"},
		{NewHeaderTypeInvalid(), 500, "Request.Header.Type.Invalid", 0, "Header type error"},
		{NewBodyReadFailed(cause), 400, "Request.Body.ReadFailed", 0, "Failed to read request body: boom"},
		{NewAESNoKey(), 500, "Request.Body.Decrypt.AES.NoKey", 0, "No key for AES"},
		{NewAESKeyAndIVInvalid(), 500, "Request.Body.Decrypt.AES.KeyAndIv.Invalid", 0, "AES key and IV size error"},
		{NewAESContentLengthInvalid(), 500, "Request.Body.Decrypt.AES.ContentLength.Invalid", 0, "Decrypted string length is not a multiple of the block size"},
		{NewForwardMasterNotFound(), 500, "Request.Forward.MasterAgent.NotFound", 0, "Master agent not found when auto-forwarding request to master"},
		{NewForwardHeaderNotExist(), 500, "Request.Forward.Header.NotExist", 0, "Header not found when auto-forwarding request to master"},
		{NewIdentifyNotSupportOperation("10.0.0.1:2886", obcluster.IdentitySingle, "MASTER or FOLLOWER"), 400, "Agent.Identify.NotSupportOperation", 0, "'10.0.0.1:2886' is 'SINGLE', instead of 'MASTER or FOLLOWER', does not support this operation"},
		{NewIdentifyUnknown(obcluster.IdentityUnidentified), 500, "Agent.Identify.Unknown", 0, "Agent identify is unknown: UNIDENTIFIED"},
		{NewNoMaster(), 500, "Agent.NoMaster", 0, "Master agent is not found"},
		{NewAgentNotExist("1.1.1.1:2886"), 400, "Agent.NotExist", 0, "Server '1.1.1.1:2886' does not exist"},
		{NewAgentAlreadyExists("1.1.1.1:2886"), 500, "Agent.AlreadyExists", 0, "Agent 1.1.1.1:2886 already exists in cluster"},
		{NewVersionInconsistent("a", "1", "b", "2"), 400, "Agent.Version.Inconsistent", 0, "obshell version is not consistent between a(1) and b(2)"},
		{NewOBVersionInconsistent("a", "1", "b", "2"), 400, "Agent.OB.Version.Inconsistent", 0, "OB version is not consistent between a(1) and b(2)"},
		{NewUnderMaintenance("10.0.0.1:2886"), 500, "Agent.UnderMaintenance", 0, "10.0.0.1:2886 is under maintenance"},
		{NewUnderMaintenanceDag("a", "2001", "Initialize cluster"), 500, "Agent.UnderMaintenanceDag", 0, "a is under maintenance by DAG [2001:Initialize cluster]"},
		{NewRPCRequestError("GET", "/api/v1/info", "a", cause), 500, "Agent.RPC.RequestError", 0, "Request [GET]/api/v1/info to a error: boom"},
		{NewRPCRequestFailed("GET", "/api/v1/info", "a", "x"), 500, "Agent.RPC.RequestFailed", 0, "Request [GET]/api/v1/info to a failed: x"},
		{NewOceanBaseNotHold(), 500, "Agent.OceanBase.NotHold", 0, "Agent is not holding OceanBase"},
		{NewClusterAlreadyInitialized(), 400, "OB.Cluster.AlreadyInitialized", 0, "Cluster has already been initialized"},
		{NewClusterNotInitialized(), 400, "OB.Cluster.NotInitialized", 0, "Cluster has not been initialized, please initialize it first"},
		{NewClusterIDInvalid(), 400, "OB.Cluster.Id.Invalid", 0, "Cluster ID is invalid"},
		{NewClusterNameEmpty(), 400, "OB.Cluster.Name.Empty", 0, "Cluster name is empty"},
		{NewScopeInvalid("REGION"), 400, "OB.Cluster.Scope.Invalid", 0, "Scope 'REGION' is invalid"},
		{NewPasswordEncrypted(), 400, "OB.Cluster.Password.Encrypted", 0, "Please do not encrypt the 'rootPwd', and send /api/v1/obcluster/config to master agent"},
		{NewMysqlPortNotInitialized(), 500, "OB.Cluster.MysqlPortNotInitialized", 0, "MySQL port has not been initialized"},
		{NewAsyncOperationTimeout("bootstrap"), 500, "OB.Cluster.AsyncOperationTimeout", 0, "bootstrap timeout"},
		{NewZoneNotExist("z9"), 400, "OB.Zone.NotExist", 0, "Zone 'z9' does not exist"},
		{NewRsListInvalid("x", "has empty rsServer"), 400, "OB.Parameter.RsList.Invalid", 0, "rs_list 'x' is invalid: has empty rsServer"},
		{NewProcessNotExist(), 500, "OB.Server.Process.NotExist", 0, "Observer process does not exist"},
		{NewProcessCheckFailed(cause), 500, "OB.Server.Process.CheckFailed", 0, "Check observer process exist: boom"},
		{NewUserPasswordError(), 400, "OB.User.Password.Error", 0, "The provided password is unable to connect to the tenant's user"},
		{NewMySQLError("x"), 400, "MySQL.Error", 0, "MySQL error: x"},
		{NewTaskNotFound(), 404, "Task.NotFound", 0, "Task not found"},
		{NewTaskNotFoundReason("dag id not match"), 404, "Task.NotFound", 0, "Task not found: dag id not match"},
		{NewGenericIDInvalid("9"), 400, "Task.GenericID.Invalid", 0, "Invalid ID: 9"},
		{NewTaskCreateFailed("Initialize cluster", nil), 500, "Task.CreateFailed", 0, "Create task 'Initialize cluster' failed"},
		{NewTaskCreateFailed("Initialize cluster", NewUnderMaintenance("10.0.0.1:2886")), 500, "Agent.UnderMaintenance", 0, "Create task 'Initialize cluster' failed: 10.0.0.1:2886 is under maintenance"},
		{NewTemplateEmpty(), 500, "Task.Template.Empty", 0, "Task template is empty"},
		{NewParamNotSet("config"), 500, "Task.Param.NotSet", 0, "Parameter 'config' is not set"},
		{NewDataNotSet("x"), 500, "Task.Data.NotSet", 0, "Data 'x' is not set"},
		{NewAgentDataNotSet("a", "x"), 500, "Task.AgentData.NotSet", 0, "Agent a data x not set"},
		{NewExecuteTimeout("observer health check"), 500, "Task.Dag.ExecuteTimeout", 0, "observer health check timeout"},
		{NewRemoteTaskFailed("a", "1"), 500, "Task.RemoteTask.Failed", 0, "Remote task a 1 failed"},
		{NewDagStateInvalid(9), 400, "Task.Dag.State.Invalid", 0, "Invalid DAG state '9'"},
		{NewDagOperatorNotSupport("FOO"), 400, "Task.Dag.Operator.NotSupport", 0, "Operator FOO is not supported"},
		{NewRetryNotFailedDag(), 400, "Task.Dag.Operator.RetryNotFailedDag", 0, "Failed to set DAG retry: DAG state is not failed"},
		{NewRetryNotAllowed("Start observer"), 400, "Task.Dag.Operator.RetryNotAllowed", 0, "Failed to set DAG retry: node Start observer cannot retry"},
		{NewRollbackNotFailedDag(), 400, "Task.Dag.Operator.RollbackNotFailedDag", 0, "Failed to set DAG rollback: DAG state is not failed"},
		{NewRollbackNotAllowed("n"), 400, "Task.Dag.Operator.RollbackNotAllowed", 0, "Failed to set DAG rollback: node n cannot rollback"},
		{NewCancelFinishedDag(), 400, "Task.Dag.Operator.CancelFinishedDag", 0, "Failed to cancel DAG: DAG is finished"},
		{NewCancelNotAllowed("n"), 400, "Task.Dag.Operator.CancelNotAllowed", 0, "Failed to cancel DAG: node n cannot cancel"},
		{NewPassNotFailedDag(), 400, "Task.Dag.Operator.PassNotFailedDag", 0, "Failed to pass DAG: DAG is not failed"},
		{NewPassNotAllowed("n"), 400, "Task.Dag.Operator.PassNotAllowed", 0, "Failed to pass DAG: node n cannot pass"},
		{NewNodeOperatorNotSupport("RETRY"), 400, "Task.Node.Operator.NotSupport", 0, "Operator RETRY is not supported"},
		{NewNodePassNotFailedDag(), 400, "Task.Node.Operator.PassNotFailedDag", 0, "Failed to pass node: assigned DAG is not failed"},
		{NewNodePassNotFailedNode("n"), 400, "Task.Node.Operator.PassNotFailedNode", 0, "Failed to pass node: node n is not failed"},
		{NewNodePassNotAllowed("n"), 400, "Task.Node.Operator.PassNotAllowed", 0, "Failed to pass node: node n cannot pass"},
		{NewNoRowAffected("update dag"), 500, "Gorm.NoRowAffected", 0, "update dag: no row affected"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.errCode+"/"+tt.message, func(t *testing.T) {
			seen[tt.errCode] = true
			status, api := ToAPIError(tt.err)
			if status != tt.status || api.ErrCode != tt.errCode || api.Code != tt.code || api.Message != tt.message {
				t.Fatalf("got (%d, %q, %d, %q), want (%d, %q, %d, %q)",
					status, api.ErrCode, api.Code, api.Message, tt.status, tt.errCode, tt.code, tt.message)
			}
			if tt.err.Status() != tt.status || tt.err.Error() != tt.message {
				t.Fatalf("Status/Error disagree with the envelope")
			}
		})
	}
	// Every row of the table has a constructor covered above.
	for _, c := range AllCodes {
		if !seen[c.Code] {
			t.Errorf("no constructor test for %s", c.Code)
		}
	}
}

func TestWrapSemantics(t *testing.T) {
	inner := NewUnderMaintenance("a:1")

	w := Wrap(inner, "prepare")
	if got, _ := CodeOf(w); got.Code != "Agent.UnderMaintenance" || w.Error() != "prepare: a:1 is under maintenance" {
		t.Fatalf("Wrap: %v %q", got, w.Error())
	}
	plain := Wrap(errors.New("io"), "read")
	if _, ok := CodeOf(plain); ok || plain.Error() != "read: io" {
		t.Fatalf("Wrap plain: %q", plain.Error())
	}
	if Wrap(nil, "x") != nil || WrapRetain(CodeTaskNotFound, nil) != nil || WrapOverride(CodeTaskNotFound, nil) != nil {
		t.Fatal("nil cause must give nil")
	}

	// WrapRetain keeps the inner code, except Common.Unexpected, and plain errors take the outer.
	r := WrapRetain(CodeCommonUnauthorized, NewAESContentLengthInvalid())
	if s, api := ToAPIError(r); s != 500 || api.ErrCode != "Request.Body.Decrypt.AES.ContentLength.Invalid" || api.Code != 0 ||
		api.Message != "Unauthorized: Decrypted string length is not a multiple of the block size" {
		t.Fatalf("WrapRetain inner code: %d %+v", s, api)
	}
	r = WrapRetain(CodeCommonUnauthorized, errors.New("bad padding"))
	if s, api := ToAPIError(r); s != 401 || api.ErrCode != "Common.Unauthorized" || api.Code != 10008 || api.Message != "Unauthorized: bad padding" {
		t.Fatalf("WrapRetain plain: %d %+v", s, api)
	}
	r = WrapRetain(CodeTaskNotFound, NewUnexpected("x"))
	if r.ErrCode() != "Task.NotFound" || r.Error() != "Task not found: Unexpected error: x" {
		t.Fatalf("WrapRetain over Common.Unexpected: %s %q", r.ErrCode(), r.Error())
	}
	o := WrapOverride(CodeTaskNotFound, inner)
	if o.ErrCode() != "Task.NotFound" {
		t.Fatalf("WrapOverride: %s", o.ErrCode())
	}

	// errors.As / errors.Is through fmt wrapping.
	chained := fmt.Errorf("handler: %w", NewTaskNotFoundReason("record not found"))
	var oe *Error
	if !errors.As(chained, &oe) || !errors.Is(chained, NewTaskNotFound()) || !HasCode(chained, CodeTaskNotFound) {
		t.Fatal("errors.As/Is must see the obshell error")
	}
	if errors.Is(chained, NewGenericIDInvalid("")) {
		t.Fatal("errors.Is must compare codes")
	}
}

func TestToAPIErrorMapping(t *testing.T) {
	s, api := ToAPIError(&mysql.MySQLError{Number: 1045, Message: "Access denied for user 'root'"})
	if s != 400 || api.ErrCode != "MySQL.Error" || api.Message != "Error 1045: Access denied for user 'root'" {
		t.Fatalf("mysql: %d %+v", s, api)
	}
	s, api = ToAPIError(fmt.Errorf("query: %w", &mysql.MySQLError{Number: 1146, Message: "no table"}))
	if s != 400 || api.ErrCode != "MySQL.Error" || !strings.HasPrefix(api.Message, "query: ") {
		t.Fatalf("wrapped mysql: %d %+v", s, api)
	}
	s, api = ToAPIError(errors.New("disk full"))
	if s != 500 || api.ErrCode != "Common.Unexpected" || api.Message != "disk full" || api.Code != 0 {
		t.Fatalf("unknown: %d %+v", s, api)
	}
	if s, _ := ToAPIError(nil); s != 500 {
		t.Fatal("nil error")
	}
	fw := FromWire("Agent.UnderMaintenance", "x is under maintenance")
	if s, api := ToAPIError(fw); s != 500 || api.ErrCode != "Agent.UnderMaintenance" || api.Message != "x is under maintenance" {
		t.Fatalf("FromWire: %d %+v", s, api)
	}
	fw = FromWire("Custom.Thing", "m")
	if s, api := ToAPIError(fw); s != 500 || api.ErrCode != "Custom.Thing" {
		t.Fatalf("FromWire unknown: %d %+v", s, api)
	}
}

func TestEnvelopeJSON(t *testing.T) {
	start := time.Now().Add(-1500 * time.Millisecond)
	ok := NewSuccess([]int{1, 2}, start, "abc")
	b, err := json.Marshal(ok)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["successful"] != true || m["status"].(float64) != 200 || m["traceId"] != "abc" || m["duration"].(float64) < 1500 {
		t.Fatalf("success envelope: %s", b)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	if _, has := m["error"]; has {
		t.Fatalf("error must be omitted: %s", b)
	}
	if c := m["data"].(map[string]any)["contents"].([]any); len(c) != 2 {
		t.Fatalf("slice not wrapped: %s", b)
	}

	for _, data := range []any{nil, (*DagDetailDTO)(nil)} {
		b, _ = json.Marshal(NewSuccess(data, start, ""))
		if strings.Contains(string(b), `"data"`) {
			t.Fatalf("nil data must be omitted: %s", b)
		}
	}
	b, _ = json.Marshal(NewSuccess([]DagDetailDTO(nil), start, ""))
	if !strings.Contains(string(b), `"data":{"contents":[]}`) {
		t.Fatalf("nil slice: %s", b)
	}

	e := NewErrorResponse(NewTaskNotFoundReason("record not found"), start, "t")
	b, _ = json.Marshal(e)
	if !strings.Contains(string(b), `"error":{"errCode":"Task.NotFound","message":"Task not found: record not found"}`) ||
		strings.Contains(string(b), `"data"`) || !strings.Contains(string(b), `"status":404`) || !strings.Contains(string(b), `"successful":false`) {
		t.Fatalf("error envelope: %s", b)
	}
	b, _ = json.Marshal(NewErrorResponse(NewHeaderDecryptFailed(errors.New("crypto/rsa: decryption error")), start, ""))
	if !strings.Contains(string(b), `"error":{"code":1,"errCode":"Security.Authentication.Header.DecryptFailed","message":"Decrypt http header failed: crypto/rsa: decryption error"}`) {
		t.Fatalf("code 1 envelope: %s", b)
	}
	b, _ = json.Marshal(NewNoContent(start, ""))
	if !strings.Contains(string(b), `"status":204`) || !strings.Contains(string(b), `"successful":true`) {
		t.Fatalf("204: %s", b)
	}
	b, _ = json.Marshal(PanicResponse(start, ""))
	if !strings.Contains(string(b), `"message":"Unexpected error: Internal Server Error"`) {
		t.Fatalf("panic: %s", b)
	}
}

func TestTraceID(t *testing.T) {
	if TraceID("abc") != "abc" {
		t.Fatal("request value must be kept")
	}
	a, b := TraceID(""), TraceID("")
	if len(a) != 16 || a == b || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("generated %q %q", a, b)
	}
}
