package obshell

import "net/http"

const (
	statusBad          = http.StatusBadRequest
	statusUnauthorized = http.StatusUnauthorized
	statusNotFound     = http.StatusNotFound
	statusInternal     = http.StatusInternalServerError
)

// Legacy numeric codes (envelope "error.code"). Only these two are emitted; the SDKs react to them
// (CONTRACT.md §2.4): 1 → re-fetch the public key, 10008 → try the candidate password.
const (
	OldCodeDecryptFailed = 1
	OldCodeUnauthorized  = 10008
)

// obshell's error table with its English templates
// (ob/agent/assets/i18n/error/en.json at 61ee147); the codes obflow answers
// with are in CONTRACT.md §4.3 and §4.4.
var (
	codeEmpty = ErrorCode{Code: "Empty", Status: statusInternal, Template: "%s"}

	CodeCommonBadRequest                   = ErrorCode{Code: "Common.BadRequest", Status: statusBad, Template: "Bad request: %v"}
	CodeCommonBindJSONFailed               = ErrorCode{Code: "Common.BindJsonFailed", Status: statusBad, Template: "Bind JSON failed: %v"}
	CodeCommonNotFound                     = ErrorCode{Code: "Common.NotFound", Status: statusNotFound, Template: "Element not found: %v"}
	CodeCommonIllegalArgument              = ErrorCode{Code: "Common.IllegalArgument", Status: statusBad, Template: "Illegal argument: %v"}
	CodeCommonIllegalArgumentWithMessage   = ErrorCode{Code: "Common.IllegalArgument", Status: statusBad, Template: "The input parameter '%s' is illegal: %s"}
	CodeCommonInvalidPort                  = ErrorCode{Code: "Common.InvalidPort", Status: statusBad, Template: "The port '%s' is invalid, must be in [1024, 65535]"}
	CodeCommonInvalidIP                    = ErrorCode{Code: "Common.InvalidIp", Status: statusBad, Template: "'%s' is not a valid IP address"}
	CodeCommonInvalidAddress               = ErrorCode{Code: "Common.InvalidAddress", Status: statusBad, Template: "'%s' is not a valid address"}
	CodeCommonDirNotEmpty                  = ErrorCode{Code: "Common.DirNotEmpty", Status: statusInternal, Template: "Directory '%s' is not empty"}
	CodeCommonUnexpected                   = ErrorCode{Code: "Common.Unexpected", Status: statusInternal, Template: "Unexpected error: %s"}
	CodeCommonUnauthorized                 = ErrorCode{Code: "Common.Unauthorized", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Unauthorized"}
	CodeSecurityAuthHeaderDecryptFailed    = ErrorCode{Code: "Security.Authentication.Header.DecryptFailed", Status: statusUnauthorized, OldCode: OldCodeDecryptFailed, Template: "Decrypt http header failed: %s"}
	CodeSecurityAuthHeaderURIMismatch      = ErrorCode{Code: "Security.Authentication.Header.UriMismatch", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "URI mismatch"}
	CodeSecurityAuthExpired                = ErrorCode{Code: "Security.Authentication.Expired", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Authentication expired"}
	CodeSecurityAuthTimestampInvalid       = ErrorCode{Code: "Security.Authentication.Timestamp.Invalid", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Invalid timestamp: %s, err: %s"}
	CodeSecurityAuthIncorrectOBPassword    = ErrorCode{Code: "Security.Authentication.IncorrectOceanbasePassword", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "OceanBase password is incorrect"}
	CodeSecurityAuthIncorrectAgentPassword = ErrorCode{Code: "Security.Authentication.IncorrectAgentPassword", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Agent password is incorrect"}
	CodeSecurityAuthIncorrectToken         = ErrorCode{Code: "Security.Authentication.IncorrectToken", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Incorrect token"}
	CodeSecurityAuthWithAgentPassword      = ErrorCode{Code: "Security.Authentication.WithAgentPassword", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Should use agent_password to verify: %s"}
	CodeSecurityAuthWithOBPassword         = ErrorCode{Code: "Security.Authentication.WithOceanBasePassword", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Should use oceanbase_password to verify: %s"}
	CodeSecurityAuthAgentPwdNotInitialized = ErrorCode{Code: "Security.Authentication.AgentPasswordNotInitialized", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Agent password is not initialized"}
	CodeSecurityAuthUnknownPasswordType    = ErrorCode{Code: "Security.Authentication.UnknownPasswordType", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Unknown password type"}
	CodeSecurityAuthUnauthorized           = ErrorCode{Code: "Security.Authentication.Unauthorized", Status: statusUnauthorized, OldCode: OldCodeUnauthorized, Template: "Authentication failed"}
	CodeSecurityUserPermissionDenied       = ErrorCode{Code: "Security.User.PermissionDenied", Status: statusUnauthorized, Template: "Permission denied"}
	CodeSecurityDecryptFailed              = ErrorCode{Code: "Security.DecryptFailed", Status: statusInternal, Template: "Decrypt failed: %s"}
	CodeRequestHeaderNotFound              = ErrorCode{Code: "Request.Header.NotFound", Status: statusBad, Template: "X-OCS-Agent-Header or X-OCS-Header not found in http request header"}
	CodeRequestHeaderTypeInvalid           = ErrorCode{Code: "Request.Header.Type.Invalid", Status: statusInternal, Template: "Header type error"}
	CodeRequestBodyReadFailed              = ErrorCode{Code: "Request.Body.ReadFailed", Status: statusBad, Template: "Failed to read request body: %s"}
	CodeRequestBodyAESNoKey                = ErrorCode{Code: "Request.Body.Decrypt.AES.NoKey", Status: statusInternal, Template: "No key for AES"}
	CodeRequestBodyAESKeyAndIVInvalid      = ErrorCode{Code: "Request.Body.Decrypt.AES.KeyAndIv.Invalid", Status: statusInternal, Template: "AES key and IV size error"}
	CodeRequestBodyAESContentLengthInvalid = ErrorCode{Code: "Request.Body.Decrypt.AES.ContentLength.Invalid", Status: statusInternal, Template: "Decrypted string length is not a multiple of the block size"}
	CodeRequestForwardMasterNotFound       = ErrorCode{Code: "Request.Forward.MasterAgent.NotFound", Status: statusInternal, Template: "Master agent not found when auto-forwarding request to master"}
	CodeRequestForwardHeaderNotExist       = ErrorCode{Code: "Request.Forward.Header.NotExist", Status: statusInternal, Template: "Header not found when auto-forwarding request to master"}
	CodeAgentIdentifyNotSupportOperation   = ErrorCode{Code: "Agent.Identify.NotSupportOperation", Status: statusBad, Template: "'%s' is '%s', instead of '%s', does not support this operation"}
	CodeAgentIdentifyUnknown               = ErrorCode{Code: "Agent.Identify.Unknown", Status: statusInternal, Template: "Agent identify is unknown: %s"}
	CodeAgentNoMaster                      = ErrorCode{Code: "Agent.NoMaster", Status: statusInternal, Template: "Master agent is not found"}
	CodeAgentNotExist                      = ErrorCode{Code: "Agent.NotExist", Status: statusBad, Template: "Server '%s' does not exist"}
	CodeAgentAlreadyExists                 = ErrorCode{Code: "Agent.AlreadyExists", Status: statusInternal, Template: "Agent %s already exists in cluster"}
	CodeAgentVersionInconsistent           = ErrorCode{Code: "Agent.Version.Inconsistent", Status: statusBad, Template: "obshell version is not consistent between %s(%s) and %s(%s)"}
	CodeAgentOBVersionInconsistent         = ErrorCode{Code: "Agent.OB.Version.Inconsistent", Status: statusBad, Template: "OB version is not consistent between %s(%s) and %s(%s)"}
	CodeAgentUnderMaintenance              = ErrorCode{Code: "Agent.UnderMaintenance", Status: statusInternal, Template: "%s is under maintenance"}
	CodeAgentUnderMaintenanceDag           = ErrorCode{Code: "Agent.UnderMaintenanceDag", Status: statusInternal, Template: "%s is under maintenance by DAG [%s:%s]"}
	CodeAgentRPCRequestError               = ErrorCode{Code: "Agent.RPC.RequestError", Status: statusInternal, Template: "Request [%s]%s to %s error: %v"}
	CodeAgentRPCRequestFailed              = ErrorCode{Code: "Agent.RPC.RequestFailed", Status: statusInternal, Template: "Request [%s]%s to %s failed: %s"}
	CodeAgentOceanBaseNotHold              = ErrorCode{Code: "Agent.OceanBase.NotHold", Status: statusInternal, Template: "Agent is not holding OceanBase"}
	CodeOBClusterAlreadyInitialized        = ErrorCode{Code: "OB.Cluster.AlreadyInitialized", Status: statusBad, Template: "Cluster has already been initialized"}
	CodeOBClusterNotInitialized            = ErrorCode{Code: "OB.Cluster.NotInitialized", Status: statusBad, Template: "Cluster has not been initialized, please initialize it first"}
	CodeOBClusterIDInvalid                 = ErrorCode{Code: "OB.Cluster.Id.Invalid", Status: statusBad, Template: "Cluster ID is invalid"}
	CodeOBClusterNameEmpty                 = ErrorCode{Code: "OB.Cluster.Name.Empty", Status: statusBad, Template: "Cluster name is empty"}
	CodeOBClusterScopeInvalid              = ErrorCode{Code: "OB.Cluster.Scope.Invalid", Status: statusBad, Template: "Scope '%s' is invalid"}
	CodeOBClusterPasswordEncrypted         = ErrorCode{Code: "OB.Cluster.Password.Encrypted", Status: statusBad, Template: "Please do not encrypt the 'rootPwd', and send /api/v1/obcluster/config to master agent"}
	CodeOBClusterMysqlPortNotInitialized   = ErrorCode{Code: "OB.Cluster.MysqlPortNotInitialized", Status: statusInternal, Template: "MySQL port has not been initialized"}
	CodeOBClusterAsyncOperationTimeout     = ErrorCode{Code: "OB.Cluster.AsyncOperationTimeout", Status: statusInternal, Template: "%s timeout"}
	CodeOBZoneNotExist                     = ErrorCode{Code: "OB.Zone.NotExist", Status: statusBad, Template: "Zone '%s' does not exist"}
	CodeOBParameterRsListInvalid           = ErrorCode{Code: "OB.Parameter.RsList.Invalid", Status: statusBad, Template: "rs_list '%s' is invalid: %s"}
	CodeOBServerProcessNotExist            = ErrorCode{Code: "OB.Server.Process.NotExist", Status: statusInternal, Template: "Observer process does not exist"}
	CodeOBServerProcessCheckFailed         = ErrorCode{Code: "OB.Server.Process.CheckFailed", Status: statusInternal, Template: "Check observer process exist: %s"}
	CodeOBUserPasswordError                = ErrorCode{Code: "OB.User.Password.Error", Status: statusBad, Template: "The provided password is unable to connect to the tenant's user"}
	CodeMySQLError                         = ErrorCode{Code: "MySQL.Error", Status: statusBad, Template: "MySQL error: %s"}
	CodeTaskNotFound                       = ErrorCode{Code: "Task.NotFound", Status: statusNotFound, Template: "Task not found"}
	CodeTaskNotFoundWithReason             = ErrorCode{Code: "Task.NotFound", Status: statusNotFound, Template: "Task not found: %v"}
	CodeTaskGenericIDInvalid               = ErrorCode{Code: "Task.GenericID.Invalid", Status: statusBad, Template: "Invalid ID: %s"}
	CodeTaskCreateFailed                   = ErrorCode{Code: "Task.CreateFailed", Status: statusInternal, Template: "Create task '%s' failed"}
	CodeTaskTemplateEmpty                  = ErrorCode{Code: "Task.Template.Empty", Status: statusInternal, Template: "Task template is empty"}
	CodeTaskParamNotSet                    = ErrorCode{Code: "Task.Param.NotSet", Status: statusInternal, Template: "Parameter '%s' is not set"}
	CodeTaskDataNotSet                     = ErrorCode{Code: "Task.Data.NotSet", Status: statusInternal, Template: "Data '%s' is not set"}
	CodeTaskAgentDataNotSet                = ErrorCode{Code: "Task.AgentData.NotSet", Status: statusInternal, Template: "Agent %s data %s not set"}
	CodeTaskDagExecuteTimeout              = ErrorCode{Code: "Task.Dag.ExecuteTimeout", Status: statusInternal, Template: "%s timeout"}
	CodeTaskRemoteTaskFailed               = ErrorCode{Code: "Task.RemoteTask.Failed", Status: statusInternal, Template: "Remote task %s %s failed"}
	CodeTaskDagStateInvalid                = ErrorCode{Code: "Task.Dag.State.Invalid", Status: statusBad, Template: "Invalid DAG state '%d'"}
	CodeTaskDagOperatorNotSupport          = ErrorCode{Code: "Task.Dag.Operator.NotSupport", Status: statusBad, Template: "Operator %s is not supported"}
	CodeTaskDagOperatorRetryNotFailedDag   = ErrorCode{Code: "Task.Dag.Operator.RetryNotFailedDag", Status: statusBad, Template: "Failed to set DAG retry: DAG state is not failed"}
	CodeTaskDagOperatorRetryNotAllowed     = ErrorCode{Code: "Task.Dag.Operator.RetryNotAllowed", Status: statusBad, Template: "Failed to set DAG retry: node %s cannot retry"}
	CodeTaskDagOperatorRollbackNotFailed   = ErrorCode{Code: "Task.Dag.Operator.RollbackNotFailedDag", Status: statusBad, Template: "Failed to set DAG rollback: DAG state is not failed"}
	CodeTaskDagOperatorRollbackNotAllowed  = ErrorCode{Code: "Task.Dag.Operator.RollbackNotAllowed", Status: statusBad, Template: "Failed to set DAG rollback: node %s cannot rollback"}
	CodeTaskDagOperatorCancelFinishedDag   = ErrorCode{Code: "Task.Dag.Operator.CancelFinishedDag", Status: statusBad, Template: "Failed to cancel DAG: DAG is finished"}
	CodeTaskDagOperatorCancelNotAllowed    = ErrorCode{Code: "Task.Dag.Operator.CancelNotAllowed", Status: statusBad, Template: "Failed to cancel DAG: node %s cannot cancel"}
	CodeTaskDagOperatorPassNotFailedDag    = ErrorCode{Code: "Task.Dag.Operator.PassNotFailedDag", Status: statusBad, Template: "Failed to pass DAG: DAG is not failed"}
	CodeTaskDagOperatorPassNotAllowed      = ErrorCode{Code: "Task.Dag.Operator.PassNotAllowed", Status: statusBad, Template: "Failed to pass DAG: node %s cannot pass"}
	CodeTaskNodeOperatorNotSupport         = ErrorCode{Code: "Task.Node.Operator.NotSupport", Status: statusBad, Template: "Operator %s is not supported"}
	CodeTaskNodeOperatorPassNotFailedDag   = ErrorCode{Code: "Task.Node.Operator.PassNotFailedDag", Status: statusBad, Template: "Failed to pass node: assigned DAG is not failed"}
	CodeTaskNodeOperatorPassNotFailedNode  = ErrorCode{Code: "Task.Node.Operator.PassNotFailedNode", Status: statusBad, Template: "Failed to pass node: node %s is not failed"}
	CodeTaskNodeOperatorPassNotAllowed     = ErrorCode{Code: "Task.Node.Operator.PassNotAllowed", Status: statusBad, Template: "Failed to pass node: node %s cannot pass"}
	CodeGormNoRowAffected                  = ErrorCode{Code: "Gorm.NoRowAffected", Status: statusInternal, Template: "%s: no row affected"}
)

// AllCodes lists every row above (both templates of shared codes), for lookups and tests.
var AllCodes = []ErrorCode{
	CodeCommonBadRequest, CodeCommonBindJSONFailed, CodeCommonNotFound, CodeCommonIllegalArgument,
	CodeCommonIllegalArgumentWithMessage, CodeCommonInvalidPort, CodeCommonInvalidIP, CodeCommonInvalidAddress,
	CodeCommonDirNotEmpty, CodeCommonUnexpected, CodeCommonUnauthorized,
	CodeSecurityAuthHeaderDecryptFailed, CodeSecurityAuthHeaderURIMismatch, CodeSecurityAuthExpired,
	CodeSecurityAuthTimestampInvalid, CodeSecurityAuthIncorrectOBPassword, CodeSecurityAuthIncorrectAgentPassword,
	CodeSecurityAuthIncorrectToken, CodeSecurityAuthWithAgentPassword, CodeSecurityAuthWithOBPassword,
	CodeSecurityAuthAgentPwdNotInitialized, CodeSecurityAuthUnknownPasswordType, CodeSecurityAuthUnauthorized,
	CodeSecurityUserPermissionDenied, CodeSecurityDecryptFailed,
	CodeRequestHeaderNotFound, CodeRequestHeaderTypeInvalid, CodeRequestBodyReadFailed, CodeRequestBodyAESNoKey,
	CodeRequestBodyAESKeyAndIVInvalid, CodeRequestBodyAESContentLengthInvalid, CodeRequestForwardMasterNotFound,
	CodeRequestForwardHeaderNotExist,
	CodeAgentIdentifyNotSupportOperation, CodeAgentIdentifyUnknown, CodeAgentNoMaster, CodeAgentNotExist,
	CodeAgentAlreadyExists, CodeAgentVersionInconsistent, CodeAgentOBVersionInconsistent, CodeAgentUnderMaintenance,
	CodeAgentUnderMaintenanceDag, CodeAgentRPCRequestError, CodeAgentRPCRequestFailed, CodeAgentOceanBaseNotHold,
	CodeOBClusterAlreadyInitialized, CodeOBClusterNotInitialized, CodeOBClusterIDInvalid, CodeOBClusterNameEmpty,
	CodeOBClusterScopeInvalid, CodeOBClusterPasswordEncrypted, CodeOBClusterMysqlPortNotInitialized,
	CodeOBClusterAsyncOperationTimeout, CodeOBZoneNotExist, CodeOBParameterRsListInvalid, CodeOBServerProcessNotExist,
	CodeOBServerProcessCheckFailed, CodeOBUserPasswordError, CodeMySQLError,
	CodeTaskNotFound, CodeTaskNotFoundWithReason, CodeTaskGenericIDInvalid, CodeTaskCreateFailed, CodeTaskTemplateEmpty,
	CodeTaskParamNotSet, CodeTaskDataNotSet, CodeTaskAgentDataNotSet, CodeTaskDagExecuteTimeout, CodeTaskRemoteTaskFailed,
	CodeTaskDagStateInvalid, CodeTaskDagOperatorNotSupport, CodeTaskDagOperatorRetryNotFailedDag,
	CodeTaskDagOperatorRetryNotAllowed, CodeTaskDagOperatorRollbackNotFailed, CodeTaskDagOperatorRollbackNotAllowed,
	CodeTaskDagOperatorCancelFinishedDag, CodeTaskDagOperatorCancelNotAllowed, CodeTaskDagOperatorPassNotFailedDag,
	CodeTaskDagOperatorPassNotAllowed, CodeTaskNodeOperatorNotSupport, CodeTaskNodeOperatorPassNotFailedDag,
	CodeTaskNodeOperatorPassNotFailedNode, CodeTaskNodeOperatorPassNotAllowed, CodeGormNoRowAffected,
}

var codesByName = func() map[string]ErrorCode {
	m := make(map[string]ErrorCode, len(AllCodes))
	for _, c := range AllCodes {
		if _, dup := m[c.Code]; !dup { // first row of a shared code wins
			m[c.Code] = c
		}
	}
	return m
}()

// LookupCode finds a row by its errCode string.
func LookupCode(errCode string) (ErrorCode, bool) {
	c, ok := codesByName[errCode]
	return c, ok
}
