package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	storeName                   = "sqlite"
	postgresStoreName           = "postgres"
	postgresVisibilityStoreName = "postgres-visibility"
	clusterName                 = "active"
)

type serverConfig struct {
	conf     *config.Config
	internal map[primitives.ServiceName]string // host:port of each service
}

// serverConfig builds the single-process Temporal configuration: all four
// services in this process with static membership (no ringpop ports),
// internal services on loopback, and the store for both the default and the
// visibility store (one SQLite file, or two PostgreSQL databases).
func (s *Server) serverConfig() (serverConfig, error) {
	o := s.opts
	internalIP := dialIP(o.IP)
	ports, err := freePorts(internalIP, 3)
	if err != nil {
		return serverConfig{}, err
	}
	grpcPorts := map[primitives.ServiceName]int{
		primitives.FrontendService: o.Port,
		primitives.HistoryService:  ports[0],
		primitives.MatchingService: ports[1],
		primitives.WorkerService:   ports[2],
	}
	internal := map[primitives.ServiceName]string{}
	for name, port := range grpcPorts {
		internal[name] = hostPort(internalIP, port)
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = internalIP
	if s.store.postgres {
		conf.Persistence.DefaultStore = postgresStoreName
		conf.Persistence.VisibilityStore = postgresVisibilityStoreName
		conf.Persistence.DataStores = map[string]config.DataStore{
			postgresStoreName:           {SQL: s.store.main},
			postgresVisibilityStoreName: {SQL: s.store.visibility},
		}
	} else {
		conf.Persistence.DefaultStore = storeName
		conf.Persistence.VisibilityStore = storeName
		conf.Persistence.DataStores = map[string]config.DataStore{storeName: {SQL: s.store.main}}
	}
	// prepareStore sets it: the shard count is fixed forever once a store
	// exists.
	conf.Persistence.NumHistoryShards = 1
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             s.hostPort,
				// Only used when the database is new; later starts keep the
				// persisted id.
				ClusterID: uuid.NewString(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for name, port := range grpcPorts {
		var svc config.Service
		svc.RPC.GRPCPort = port
		svc.RPC.BindOnIP = internalIP
		if name == primitives.FrontendService {
			svc.RPC.BindOnIP = o.IP
		}
		conf.Services[string(name)] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = s.hostPort
	return serverConfig{conf: &conf, internal: internal}, nil
}

func (s *Server) serverOptions(cfg serverConfig) []temporal.ServerOption {
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, addr := range cfg.internal {
		hosts[name] = static.SingleLocalHost(addr)
	}
	dyn := dynamicconfig.StaticClient{}
	for k, v := range DevDynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	for k, v := range s.opts.DynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	return []temporal.ServerOption{
		temporal.WithConfig(cfg.conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(log.NewZapLogger(s.zapLogger)),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
			return authorization.NewNoopClaimMapper()
		}),
		temporal.WithDynamicConfigClient(dyn),
	}
}

// prepareStore creates or upgrades the schema, checks the history shard
// count against the store's, then creates the namespace (a no-op when it
// exists). It returns the shard count to run with.
func (s *Server) prepareStore(ctx context.Context) (int32, error) {
	o := s.opts
	st := s.store
	if st.postgres {
		began := time.Now()
		if err := preparePostgres(ctx, st, log.NewZapLogger(s.zapLogger)); err != nil {
			return 0, &StoreError{Store: st.where, Err: err}
		}
		o.Logger.Debug("postgres schemas current", "store", st.where, "took", time.Since(began))
	} else if err := prepareSQLite(st.main, o); err != nil {
		return 0, err
	}

	shards := o.HistoryShards
	have, exists, err := persistedShardCount(ctx, st.main)
	if err != nil {
		return 0, &StoreError{Store: st.where, Err: err}
	}
	switch {
	case exists && shards != 0 && shards != have:
		return 0, &ShardCountError{Store: st.where, Have: have, Want: shards}
	case exists:
		shards = have
	case shards == 0:
		shards = DefaultHistoryShards
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return 0, fmt.Errorf("namespace %s: %w", o.Namespace, err)
	}
	// NewNamespaceConfig hard-codes 24 h; the retention can only be set
	// here, before the namespace exists.
	ns.Detail.Config.Retention = durationpb.New(o.Retention)
	// Written straight into the store (as `temporal server start-dev` does)
	// so the namespace is there when the services start. The function lives
	// in the sqlite package but works on any SQL store, and the alias to
	// column mapping it makes is the same for all of them.
	if err := sqliteschema.CreateNamespaces(st.main, ns); err != nil {
		err = fmt.Errorf("create namespace %s: %w", o.Namespace, err)
		if st.postgres {
			err = &StoreError{Store: st.where, Err: err}
		}
		return 0, err
	}
	return shards, nil
}

// prepareSQLite creates the schema when the database file does not exist
// yet.
//
// The schema goes into a temporary file that is renamed into place, so a
// start killed half-way leaves no half-initialized database behind.
func prepareSQLite(sqlConf *config.SQL, o Options) error {
	dbPath := sqlConf.DatabaseName
	if _, err := os.Stat(dbPath); os.IsNotExist(err) {
		tmpPath := dbPath + ".init"
		for _, p := range []string{tmpPath, tmpPath + "-journal"} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return &DataDirError{Dir: o.DataDir, Err: err}
			}
		}
		tmpConf := *sqlConf
		tmpConf.DatabaseName = tmpPath
		// The default rollback journal: nothing is left beside the file
		// once the schema connection closes, so the rename moves it all.
		tmpConf.ConnectAttributes = map[string]string{"mode": "rwc"}
		if err := sqliteschema.SetupSchema(&tmpConf); err != nil {
			return fmt.Errorf("create temporal schema in %s: %w", tmpPath, err)
		}
		if err := os.Rename(tmpPath, dbPath); err != nil {
			return &DataDirError{Dir: o.DataDir, Err: err}
		}
	} else if err != nil {
		return &DataDirError{Dir: o.DataDir, Err: err}
	}
	return nil
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l < slog.LevelInfo:
		return zapcore.DebugLevel
	case l < slog.LevelWarn:
		return zapcore.InfoLevel
	case l < slog.LevelError:
		return zapcore.WarnLevel
	}
	return zapcore.ErrorLevel
}
