package obshell

import "github.com/obflow/obflow/internal/obcluster"

// Constructors, one per row of the error table. Arguments fill the template in order; the doc
// comment of each shows the message it renders.

// NewBadRequest: "Bad request: <v>".
func NewBadRequest(v any) *Error { return New(CodeCommonBadRequest, v) }

// NewBindJSONFailed: "Bind JSON failed: <err>" (400 Common.BindJsonFailed).
func NewBindJSONFailed(err error) *Error { return New(CodeCommonBindJSONFailed, errText(err)) }

// NewNotFound: "Element not found: <v>", e.g. "404 not found" for unknown routes.
func NewNotFound(v any) *Error { return New(CodeCommonNotFound, v) }

// NewIllegalArgument: "Illegal argument: <v>".
func NewIllegalArgument(v any) *Error { return New(CodeCommonIllegalArgument, v) }

// NewIllegalParameter: "The input parameter '<param>' is illegal: <reason>".
func NewIllegalParameter(param, reason string) *Error {
	return New(CodeCommonIllegalArgumentWithMessage, param, reason)
}

// NewInvalidPort: "The port '<port>' is invalid, must be in [1024, 65535]".
func NewInvalidPort(port string) *Error { return New(CodeCommonInvalidPort, port) }

// NewInvalidIP: "'<ip>' is not a valid IP address".
func NewInvalidIP(ip string) *Error { return New(CodeCommonInvalidIP, ip) }

// NewInvalidAddress: "'<addr>' is not a valid address".
func NewInvalidAddress(addr string) *Error { return New(CodeCommonInvalidAddress, addr) }

// NewDirNotEmpty: "Directory '<dir>' is not empty".
func NewDirNotEmpty(dir string) *Error { return New(CodeCommonDirNotEmpty, dir) }

// NewUnexpected: "Unexpected error: <msg>".
func NewUnexpected(msg string) *Error { return New(CodeCommonUnexpected, msg) }

// NewUnauthorized: "Unauthorized" (401, code 10008).
func NewUnauthorized() *Error { return New(CodeCommonUnauthorized) }

// NewHeaderDecryptFailed: "Decrypt http header failed: <err>" (401, code 1).
func NewHeaderDecryptFailed(err error) *Error {
	return New(CodeSecurityAuthHeaderDecryptFailed, errText(err))
}

// NewURIMismatch: "URI mismatch".
func NewURIMismatch() *Error { return New(CodeSecurityAuthHeaderURIMismatch) }

// NewAuthExpired: "Authentication expired".
func NewAuthExpired() *Error { return New(CodeSecurityAuthExpired) }

// NewTimestampInvalid: "Invalid timestamp: <ts>, err: <err>".
func NewTimestampInvalid(ts string, err error) *Error {
	return New(CodeSecurityAuthTimestampInvalid, ts, errText(err))
}

// NewIncorrectOceanBasePassword: "OceanBase password is incorrect".
func NewIncorrectOceanBasePassword() *Error { return New(CodeSecurityAuthIncorrectOBPassword) }

// NewIncorrectAgentPassword: "Agent password is incorrect".
func NewIncorrectAgentPassword() *Error { return New(CodeSecurityAuthIncorrectAgentPassword) }

// NewIncorrectToken: "Incorrect token".
func NewIncorrectToken() *Error { return New(CodeSecurityAuthIncorrectToken) }

// NewWithAgentPassword: "Should use agent_password to verify: <reason>".
func NewWithAgentPassword(reason string) *Error {
	return New(CodeSecurityAuthWithAgentPassword, reason)
}

// NewWithOceanBasePassword: "Should use oceanbase_password to verify: <reason>".
func NewWithOceanBasePassword(reason string) *Error {
	return New(CodeSecurityAuthWithOBPassword, reason)
}

// NewAgentPasswordNotInitialized: "Agent password is not initialized".
func NewAgentPasswordNotInitialized() *Error { return New(CodeSecurityAuthAgentPwdNotInitialized) }

// NewUnknownPasswordType: "Unknown password type".
func NewUnknownPasswordType() *Error { return New(CodeSecurityAuthUnknownPasswordType) }

// NewAuthenticationFailed: "Authentication failed" (Security.Authentication.Unauthorized).
func NewAuthenticationFailed() *Error { return New(CodeSecurityAuthUnauthorized) }

// NewPermissionDenied: "Permission denied".
func NewPermissionDenied() *Error { return New(CodeSecurityUserPermissionDenied) }

// NewDecryptFailed: "Decrypt failed: <err>" (500 Security.DecryptFailed).
func NewDecryptFailed(err error) *Error { return New(CodeSecurityDecryptFailed, errText(err)) }

// NewHeaderNotFound: "X-OCS-Agent-Header or X-OCS-Header not found in http request header".
func NewHeaderNotFound() *Error { return New(CodeRequestHeaderNotFound) }

// NewHeaderTypeInvalid: "Header type error".
func NewHeaderTypeInvalid() *Error { return New(CodeRequestHeaderTypeInvalid) }

// NewBodyReadFailed: "Failed to read request body: <err>".
func NewBodyReadFailed(err error) *Error { return New(CodeRequestBodyReadFailed, errText(err)) }

// NewAESNoKey: "No key for AES".
func NewAESNoKey() *Error { return New(CodeRequestBodyAESNoKey) }

// NewAESKeyAndIVInvalid: "AES key and IV size error".
func NewAESKeyAndIVInvalid() *Error { return New(CodeRequestBodyAESKeyAndIVInvalid) }

// NewAESContentLengthInvalid: "Decrypted string length is not a multiple of the block size".
func NewAESContentLengthInvalid() *Error { return New(CodeRequestBodyAESContentLengthInvalid) }

// NewForwardMasterNotFound: "Master agent not found when auto-forwarding request to master".
func NewForwardMasterNotFound() *Error { return New(CodeRequestForwardMasterNotFound) }

// NewForwardHeaderNotExist: "Header not found when auto-forwarding request to master".
func NewForwardHeaderNotExist() *Error { return New(CodeRequestForwardHeaderNotExist) }

// NewIdentifyNotSupportOperation: "'<agent>' is '<identity>', instead of '<expected>', does not
// support this operation". expected is e.g. "SINGLE" or "MASTER or FOLLOWER".
func NewIdentifyNotSupportOperation(agent string, identity obcluster.Identity, expected string) *Error {
	return New(CodeAgentIdentifyNotSupportOperation, agent, string(identity), expected)
}

// NewIdentifyUnknown: "Agent identify is unknown: <identity>".
func NewIdentifyUnknown(identity obcluster.Identity) *Error {
	return New(CodeAgentIdentifyUnknown, string(identity))
}

// NewNoMaster: "Master agent is not found".
func NewNoMaster() *Error { return New(CodeAgentNoMaster) }

// NewAgentNotExist: "Server '<server>' does not exist".
func NewAgentNotExist(server string) *Error { return New(CodeAgentNotExist, server) }

// NewAgentAlreadyExists: "Agent <agent> already exists in cluster".
func NewAgentAlreadyExists(agent string) *Error { return New(CodeAgentAlreadyExists, agent) }

// NewVersionInconsistent: "obshell version is not consistent between <a>(<va>) and <b>(<vb>)".
func NewVersionInconsistent(a, va, b, vb string) *Error {
	return New(CodeAgentVersionInconsistent, a, va, b, vb)
}

// NewOBVersionInconsistent: "OB version is not consistent between <a>(<va>) and <b>(<vb>)".
func NewOBVersionInconsistent(a, va, b, vb string) *Error {
	return New(CodeAgentOBVersionInconsistent, a, va, b, vb)
}

// NewUnderMaintenance: "<agent> is under maintenance".
func NewUnderMaintenance(agent string) *Error { return New(CodeAgentUnderMaintenance, agent) }

// NewUnderMaintenanceDag: "<agent> is under maintenance by DAG [<id>:<name>]".
func NewUnderMaintenanceDag(agent, dagID, dagName string) *Error {
	return New(CodeAgentUnderMaintenanceDag, agent, dagID, dagName)
}

// NewRPCRequestError: "Request [<method>]<uri> to <agent> error: <err>".
func NewRPCRequestError(method, uri, agent string, err error) *Error {
	return New(CodeAgentRPCRequestError, method, uri, agent, errText(err))
}

// NewRPCRequestFailed: "Request [<method>]<uri> to <agent> failed: <msg>".
func NewRPCRequestFailed(method, uri, agent, msg string) *Error {
	return New(CodeAgentRPCRequestFailed, method, uri, agent, msg)
}

// NewOceanBaseNotHold: "Agent is not holding OceanBase".
func NewOceanBaseNotHold() *Error { return New(CodeAgentOceanBaseNotHold) }

// NewClusterAlreadyInitialized: "Cluster has already been initialized".
func NewClusterAlreadyInitialized() *Error { return New(CodeOBClusterAlreadyInitialized) }

// NewClusterNotInitialized: "Cluster has not been initialized, please initialize it first".
func NewClusterNotInitialized() *Error { return New(CodeOBClusterNotInitialized) }

// NewClusterIDInvalid: "Cluster ID is invalid".
func NewClusterIDInvalid() *Error { return New(CodeOBClusterIDInvalid) }

// NewClusterNameEmpty: "Cluster name is empty".
func NewClusterNameEmpty() *Error { return New(CodeOBClusterNameEmpty) }

// NewScopeInvalid: "Scope '<scope>' is invalid".
func NewScopeInvalid(scope string) *Error { return New(CodeOBClusterScopeInvalid, scope) }

// NewPasswordEncrypted: "Please do not encrypt the 'rootPwd', and send /api/v1/obcluster/config to
// master agent".
func NewPasswordEncrypted() *Error { return New(CodeOBClusterPasswordEncrypted) }

// NewMysqlPortNotInitialized: "MySQL port has not been initialized".
func NewMysqlPortNotInitialized() *Error { return New(CodeOBClusterMysqlPortNotInitialized) }

// NewAsyncOperationTimeout: "<op> timeout".
func NewAsyncOperationTimeout(op string) *Error { return New(CodeOBClusterAsyncOperationTimeout, op) }

// NewZoneNotExist: "Zone '<zone>' does not exist".
func NewZoneNotExist(zone string) *Error { return New(CodeOBZoneNotExist, zone) }

// NewRsListInvalid: "rs_list '<rsList>' is invalid: <reason>".
func NewRsListInvalid(rsList, reason string) *Error {
	return New(CodeOBParameterRsListInvalid, rsList, reason)
}

// NewProcessNotExist: "Observer process does not exist".
func NewProcessNotExist() *Error { return New(CodeOBServerProcessNotExist) }

// NewProcessCheckFailed: "Check observer process exist: <err>".
func NewProcessCheckFailed(err error) *Error {
	return New(CodeOBServerProcessCheckFailed, errText(err))
}

// NewUserPasswordError: "The provided password is unable to connect to the tenant's user".
func NewUserPasswordError() *Error { return New(CodeOBUserPasswordError) }

// NewMySQLError: "MySQL error: <msg>". Note that ToAPIError reports a raw driver error with its own
// text, as obshell does; this constructor is for errors built on purpose.
func NewMySQLError(msg string) *Error { return New(CodeMySQLError, msg) }

// NewTaskNotFound: "Task not found".
func NewTaskNotFound() *Error { return New(CodeTaskNotFound) }

// NewTaskNotFoundReason: "Task not found: <reason>", e.g. "record not found", "dag id not match",
// "Agent is not under maintenance".
func NewTaskNotFoundReason(reason any) *Error { return New(CodeTaskNotFoundWithReason, reason) }

// NewGenericIDInvalid: "Invalid ID: <id>".
func NewGenericIDInvalid(id string) *Error { return New(CodeTaskGenericIDInvalid, id) }

// NewTaskCreateFailed wraps the cause of a failed DAG creation with WrapRetain:
// "Create task '<dag>' failed: <cause>", keeping the cause's code (e.g. Agent.UnderMaintenance).
// A nil cause gives the bare message with Task.CreateFailed.
func NewTaskCreateFailed(dagName string, cause error) *Error {
	if cause == nil {
		return New(CodeTaskCreateFailed, dagName)
	}
	return WrapRetain(CodeTaskCreateFailed, cause, dagName)
}

// NewTemplateEmpty: "Task template is empty".
func NewTemplateEmpty() *Error { return New(CodeTaskTemplateEmpty) }

// NewParamNotSet: "Parameter '<name>' is not set".
func NewParamNotSet(name string) *Error { return New(CodeTaskParamNotSet, name) }

// NewDataNotSet: "Data '<name>' is not set".
func NewDataNotSet(name string) *Error { return New(CodeTaskDataNotSet, name) }

// NewAgentDataNotSet: "Agent <agent> data <name> not set".
func NewAgentDataNotSet(agent, name string) *Error { return New(CodeTaskAgentDataNotSet, agent, name) }

// NewExecuteTimeout: "<what> timeout", e.g. "observer health check timeout".
func NewExecuteTimeout(what string) *Error { return New(CodeTaskDagExecuteTimeout, what) }

// NewRemoteTaskFailed: "Remote task <agent> <id> failed".
func NewRemoteTaskFailed(agent, id string) *Error { return New(CodeTaskRemoteTaskFailed, agent, id) }

// NewDagStateInvalid: "Invalid DAG state '<state>'".
func NewDagStateInvalid(state int) *Error { return New(CodeTaskDagStateInvalid, state) }

// NewDagOperatorNotSupport: "Operator <op> is not supported".
func NewDagOperatorNotSupport(op string) *Error { return New(CodeTaskDagOperatorNotSupport, op) }

// NewRetryNotFailedDag: "Failed to set DAG retry: DAG state is not failed".
func NewRetryNotFailedDag() *Error { return New(CodeTaskDagOperatorRetryNotFailedDag) }

// NewRetryNotAllowed: "Failed to set DAG retry: node <node> cannot retry".
func NewRetryNotAllowed(node string) *Error { return New(CodeTaskDagOperatorRetryNotAllowed, node) }

// NewRollbackNotFailedDag: "Failed to set DAG rollback: DAG state is not failed".
func NewRollbackNotFailedDag() *Error { return New(CodeTaskDagOperatorRollbackNotFailed) }

// NewRollbackNotAllowed: "Failed to set DAG rollback: node <node> cannot rollback".
func NewRollbackNotAllowed(node string) *Error {
	return New(CodeTaskDagOperatorRollbackNotAllowed, node)
}

// NewCancelFinishedDag: "Failed to cancel DAG: DAG is finished".
func NewCancelFinishedDag() *Error { return New(CodeTaskDagOperatorCancelFinishedDag) }

// NewCancelNotAllowed: "Failed to cancel DAG: node <node> cannot cancel".
func NewCancelNotAllowed(node string) *Error { return New(CodeTaskDagOperatorCancelNotAllowed, node) }

// NewPassNotFailedDag: "Failed to pass DAG: DAG is not failed".
func NewPassNotFailedDag() *Error { return New(CodeTaskDagOperatorPassNotFailedDag) }

// NewPassNotAllowed: "Failed to pass DAG: node <node> cannot pass".
func NewPassNotAllowed(node string) *Error { return New(CodeTaskDagOperatorPassNotAllowed, node) }

// NewNodeOperatorNotSupport: "Operator <op> is not supported" (Task.Node.Operator.NotSupport).
func NewNodeOperatorNotSupport(op string) *Error { return New(CodeTaskNodeOperatorNotSupport, op) }

// NewNodePassNotFailedDag: "Failed to pass node: assigned DAG is not failed".
func NewNodePassNotFailedDag() *Error { return New(CodeTaskNodeOperatorPassNotFailedDag) }

// NewNodePassNotFailedNode: "Failed to pass node: node <node> is not failed".
func NewNodePassNotFailedNode(node string) *Error {
	return New(CodeTaskNodeOperatorPassNotFailedNode, node)
}

// NewNodePassNotAllowed: "Failed to pass node: node <node> cannot pass".
func NewNodePassNotAllowed(node string) *Error { return New(CodeTaskNodeOperatorPassNotAllowed, node) }

// NewNoRowAffected: "<what>: no row affected" (optimistic-concurrency loss).
func NewNoRowAffected(what string) *Error { return New(CodeGormNoRowAffected, what) }

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
