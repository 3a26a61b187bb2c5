package obsim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// The oceanbase database holds read-only virtual tables whose rows are built
// from the cluster state at query time. Because they are ordinary engine
// tables, WHERE, COUNT, ORDER BY and joins work on them as on any table.

// viewSource is what the views read; *Server implements it.
type viewSource interface {
	stateSnapshot() *ClusterState
	obVersion() string
}

const obDatabase = "oceanbase"

type obDB struct {
	tables map[string]sql.Table // lower-case name -> view or system table
}

var _ sql.Database = (*obDB)(nil)

func newOBDatabase(src viewSource) *obDB {
	db := &obDB{tables: map[string]sql.Table{}}
	for _, v := range []*obView{
		serversView(src), zonesView(src), tenantsView(src), unitsView(src), paramsView(src),
	} {
		db.tables[strings.ToLower(v.name)] = v
	}
	for _, t := range timeZoneTables() {
		db.tables[strings.ToLower(t.name)] = t
	}
	return db
}

func (d *obDB) Name() string { return obDatabase }

func (d *obDB) GetTableInsensitive(_ *sql.Context, name string) (sql.Table, bool, error) {
	t, ok := d.tables[strings.ToLower(name)]
	return t, ok, nil
}

func (d *obDB) GetTableNames(*sql.Context) ([]string, error) {
	names := make([]string, 0, len(d.tables))
	for _, t := range d.tables {
		names = append(names, t.Name())
	}
	sort.Strings(names)
	return names, nil
}

// isClusterView reports whether name is one of the views that exist only
// after bootstrap.
func isClusterView(name string) bool {
	switch strings.ToLower(name) {
	case "dba_ob_servers", "dba_ob_zones", "dba_ob_tenants", "dba_ob_units", "__all_virtual_sys_parameter_stat":
		return true
	}
	return false
}

type obView struct {
	name   string
	schema sql.Schema
	rows   func() ([]sql.Row, error)
}

var _ sql.Table = (*obView)(nil)

func (v *obView) Name() string               { return v.name }
func (v *obView) String() string             { return v.name }
func (v *obView) Schema() sql.Schema         { return v.schema }
func (v *obView) Collation() sql.CollationID { return sql.Collation_Default }
func (v *obView) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(onePartition{}), nil
}

func (v *obView) PartitionRows(*sql.Context, sql.Partition) (sql.RowIter, error) {
	rows, err := v.rows()
	if err != nil {
		return nil, err
	}
	return sql.RowsToRowIter(rows...), nil
}

type onePartition struct{}

func (onePartition) Key() []byte { return []byte("all") }

func cols(table string, defs ...any) sql.Schema {
	var s sql.Schema
	for i := 0; i+1 < len(defs); i += 2 {
		s = append(s, &sql.Column{Name: defs[i].(string), Type: defs[i+1].(sql.Type), Nullable: true, Source: table, DatabaseSource: obDatabase})
	}
	return s
}

var (
	tVarchar  = types.LongText
	tInt      = types.Int64
	tDatetime = types.DatetimeMaxPrecision
)

func micros(t int64) any {
	if t == 0 {
		return nil
	}
	return time.UnixMicro(t)
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func requireBootstrapped(src viewSource, view string) (*ClusterState, error) {
	st := src.stateSnapshot()
	if !st.Bootstrapped {
		return nil, errNoSuchTable(view)
	}
	return st, nil
}

func serversView(src viewSource) *obView {
	const name = "DBA_OB_SERVERS"
	return &obView{name: name, schema: cols(name,
		"SVR_IP", tVarchar, "SVR_PORT", tInt, "ID", tInt, "ZONE", tVarchar, "SQL_PORT", tInt,
		"WITH_ROOTSERVER", tVarchar, "STATUS", tVarchar, "START_SERVICE_TIME", tDatetime,
		"STOP_TIME", tDatetime, "BLOCK_MIGRATE_IN_TIME", tDatetime, "CREATE_TIME", tDatetime,
		"MODIFY_TIME", tDatetime, "BUILD_VERSION", tVarchar, "LAST_OFFLINE_TIME", tDatetime),
		rows: func() ([]sql.Row, error) {
			st, err := requireBootstrapped(src, name)
			if err != nil {
				return nil, err
			}
			var rows []sql.Row
			for i, s := range st.Servers {
				rows = append(rows, sql.NewRow(s.IP, int64(s.RPCPort), int64(i+1), s.Zone, int64(s.SQLPort),
					yesNo(s.WithRootserver), "ACTIVE", micros(s.StartServiceTime), nil, nil,
					micros(s.CreateTime), micros(s.CreateTime), s.BuildVersion, nil))
			}
			return rows, nil
		}}
}

func zonesView(src viewSource) *obView {
	const name = "DBA_OB_ZONES"
	return &obView{name: name, schema: cols(name,
		"ZONE", tVarchar, "CREATE_TIME", tDatetime, "MODIFY_TIME", tDatetime, "STATUS", tVarchar,
		"IDC", tVarchar, "REGION", tVarchar, "TYPE", tVarchar),
		rows: func() ([]sql.Row, error) {
			st, err := requireBootstrapped(src, name)
			if err != nil {
				return nil, err
			}
			var rows []sql.Row
			for _, z := range st.Zones {
				rows = append(rows, sql.NewRow(z, micros(st.BootstrapTime), micros(st.BootstrapTime), "ACTIVE", "", "default_region", "ReadWrite"))
			}
			return rows, nil
		}}
}

func tenantsView(src viewSource) *obView {
	const name = "DBA_OB_TENANTS"
	return &obView{name: name, schema: cols(name,
		"TENANT_ID", tInt, "TENANT_NAME", tVarchar, "TENANT_TYPE", tVarchar, "CREATE_TIME", tDatetime,
		"MODIFY_TIME", tDatetime, "PRIMARY_ZONE", tVarchar, "LOCALITY", tVarchar, "STATUS", tVarchar,
		"COMPATIBILITY_MODE", tVarchar, "TENANT_ROLE", tVarchar),
		rows: func() ([]sql.Row, error) {
			st, err := requireBootstrapped(src, name)
			if err != nil {
				return nil, err
			}
			var loc []string
			for _, z := range st.Zones {
				loc = append(loc, "FULL{1}@"+z)
			}
			return []sql.Row{sql.NewRow(int64(1), "sys", "SYS", micros(st.BootstrapTime), micros(st.BootstrapTime),
				"RANDOM", strings.Join(loc, ", "), "NORMAL", "MYSQL", "PRIMARY")}, nil
		}}
}

func unitsView(src viewSource) *obView {
	const name = "DBA_OB_UNITS"
	return &obView{name: name, schema: cols(name,
		"UNIT_ID", tInt, "TENANT_ID", tInt, "STATUS", tVarchar, "RESOURCE_POOL_ID", tInt, "UNIT_GROUP_ID", tInt,
		"CREATE_TIME", tDatetime, "MODIFY_TIME", tDatetime, "ZONE", tVarchar, "SVR_IP", tVarchar, "SVR_PORT", tInt),
		rows: func() ([]sql.Row, error) {
			st, err := requireBootstrapped(src, name)
			if err != nil {
				return nil, err
			}
			// The sys tenant has one unit per zone, on that zone's first server.
			var rows []sql.Row
			for i, z := range st.Zones {
				for _, s := range st.Servers {
					if s.Zone == z {
						rows = append(rows, sql.NewRow(int64(i+1), int64(1), "ACTIVE", int64(1), int64(i+1),
							micros(st.BootstrapTime), micros(st.BootstrapTime), z, s.IP, int64(s.RPCPort)))
						break
					}
				}
			}
			return rows, nil
		}}
}

// defaultParams are a few cluster parameters with OceanBase's defaults, shown
// in __all_virtual_sys_parameter_stat next to the ones passed with -o.
var defaultParams = map[string]string{
	"memory_limit":                    "0M",
	"system_memory":                   "0M",
	"datafile_size":                   "0M",
	"log_disk_size":                   "0M",
	"cpu_count":                       "0",
	"enable_syslog_recycle":           "False",
	"max_syslog_file_count":           "0",
	"__min_full_resource_pool_memory": "2147483648",
}

func paramsView(src viewSource) *obView {
	const name = "__all_virtual_sys_parameter_stat"
	return &obView{name: name, schema: cols(name,
		"zone", tVarchar, "svr_type", tVarchar, "svr_ip", tVarchar, "svr_port", tInt, "name", tVarchar,
		"data_type", tVarchar, "value", tVarchar, "info", tVarchar, "section", tVarchar, "scope", tVarchar,
		"source", tVarchar, "edit_level", tVarchar, "default_value", tVarchar, "isdefault", tInt),
		rows: func() ([]sql.Row, error) {
			st, err := requireBootstrapped(src, name)
			if err != nil {
				return nil, err
			}
			var rows []sql.Row
			for _, s := range st.Servers {
				params := map[string]string{}
				for k, v := range defaultParams {
					params[k] = v
				}
				for k, v := range s.Params {
					params[k] = v
				}
				params["cluster"] = st.ClusterName
				params["cluster_id"] = st.ClusterID
				params["zone"] = s.Zone
				params["mysql_port"] = fmt.Sprint(s.SQLPort)
				params["rpc_port"] = fmt.Sprint(s.RPCPort)
				names := make([]string, 0, len(params))
				for k := range params {
					names = append(names, k)
				}
				sort.Strings(names)
				for _, k := range names {
					def, hasDef := defaultParams[k]
					isDefault := int64(0)
					if hasDef && def == params[k] {
						isDefault = 1
					}
					rows = append(rows, sql.NewRow(s.Zone, "observer", s.IP, int64(s.RPCPort), k,
						nil, params[k], "", "OBSERVER", "CLUSTER", "DEFAULT", "DYNAMIC_EFFECTIVE", def, isDefault))
				}
			}
			return rows, nil
		}}
}
