package obsim

import (
	"github.com/dolthub/vitess/go/mysql"
)

// Every error the simulator itself returns is built here, so that the README
// table of error numbers and messages has one source. Numbers and messages
// marked "doc" in the README are OceanBase's; the others are approximations.

const (
	errCodeInvalidArgument = 4002 // OB_INVALID_ARGUMENT
	errCodeNotInit         = 4006 // OB_NOT_INIT
	errCodeTimeout         = 4012 // OB_TIMEOUT
	errCodeSystemError     = 4015 // OB_ERR_SYS
	errCodeEntryExist      = 4017 // OB_ENTRY_EXIST
	errCodeNotSupported    = 1235 // ER_NOT_SUPPORTED_YET (MySQL, used by OceanBase too)
	errCodeZoneNotExist    = 4661 // OB_ZONE_INFO_NOT_EXIST
	errCodeServerNotAlive  = 4648 // OB_SERVER_NOT_ALIVE (approximation)
	errCodeSyntax          = 1064 // ER_PARSE_ERROR
	errCodeNoSuchTable     = 1146 // ER_NO_SUCH_TABLE (OB_TABLE_NOT_EXIST)
	errCodeFileNotExist    = 4027 // OB_FILE_NOT_EXIST
)

const ssGeneral = "HY000"

func sqlErr(code int, format string, args ...any) *mysql.SQLError {
	return mysql.NewSQLError(code, ssGeneral, format, args...)
}

func errAccessDenied(user, host string, usingPassword bool) *mysql.SQLError {
	yn := "NO"
	if usingPassword {
		yn = "YES"
	}
	return mysql.NewSQLError(mysql.ERAccessDeniedError, mysql.SSAccessDeniedError,
		"Access denied for user '%s'@'%s' (using password: %s)", user, host, yn)
}

func errNotBootstrapped() *mysql.SQLError {
	return sqlErr(errCodeNotInit, "Not init, the cluster is not bootstrapped yet")
}

// errNoSuchTable is what an observer that is not bootstrapped answers for
// the cluster views and the system tables: before BOOTSTRAP its schema holds
// the sys tenant, root and the system variables and nothing else, so the
// statement fails at once with OB_TABLE_NOT_EXIST (see the README).
func errNoSuchTable(name string) *mysql.SQLError {
	return mysql.NewSQLError(errCodeNoSuchTable, "42S02", "Table '%s.%s' doesn't exist", obDatabase, name)
}

func errFileNotExist(path string) *mysql.SQLError {
	return sqlErr(errCodeFileNotExist, "File not exist, %s", path)
}

func errBootstrapTwice() *mysql.SQLError {
	return sqlErr(errCodeSystemError, "System error, observer is not empty (cluster already bootstrapped)")
}

func errServerUnreachable(addr string) *mysql.SQLError {
	return sqlErr(errCodeServerNotAlive, "server %s is not alive (rpc port unreachable)", addr)
}

func errServerNotReady(addr string) *mysql.SQLError {
	return sqlErr(errCodeTimeout, "Timeout, server %s is still starting", addr)
}

func errInvalidArgument(format string, args ...any) *mysql.SQLError {
	return sqlErr(errCodeInvalidArgument, "Invalid argument, "+format, args...)
}

func errZoneNotExist(zone string) *mysql.SQLError {
	return sqlErr(errCodeZoneNotExist, "zone '%s' not exist", zone)
}

func errServerExists(addr string) *mysql.SQLError {
	return sqlErr(errCodeEntryExist, "Entry already exist, server %s already in cluster", addr)
}

func errLeaderUnavailable(addr string, cause error) *mysql.SQLError {
	return sqlErr(errCodeTimeout, "Timeout, rootservice %s not available: %v", addr, cause)
}

func errUserExists(user string) *mysql.SQLError {
	// MySQL's ER_CANNOT_USER, which OceanBase returns for CREATE USER of an existing user.
	return mysql.NewSQLError(1396, ssGeneral, "Operation CREATE USER failed for '%s'@'%%'", user)
}

func errUserNotExist(op, user string) *mysql.SQLError {
	return mysql.NewSQLError(1396, ssGeneral, "Operation %s failed for '%s'@'%%'", op, user)
}

func errNotSupported(what string) *mysql.SQLError {
	return sqlErr(errCodeNotSupported, "%s not supported", what)
}

func errSyntax(near string) *mysql.SQLError {
	if len(near) > 80 {
		near = near[:80]
	}
	return mysql.NewSQLError(errCodeSyntax, "42000",
		"You have an error in your SQL syntax; check the manual that corresponds to your OceanBase version for the right syntax to use near '%s'", near)
}
