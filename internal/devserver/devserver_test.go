package devserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/devserver/devservertest"
	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/internal/searchattr"
)

func TestMain(m *testing.M) { devservertest.Main(m) }

// The secret travels as workflow input and must only ever be stored
// encrypted.
const secret = "observer-root-password-42"

// threeSteps is a trivial DAG: three activities in sequence, each appending
// its name to the running result.
func threeSteps(ctx workflow.Context, password string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.DagName.ValueSet("Initialize cluster"),
		searchattr.DagID.ValueSet(7),
		searchattr.DagState.ValueSet("RUNNING"),
	)
	if err != nil {
		return "", err
	}
	result := ""
	for _, step := range []string{"prepare", "bootstrap", "finish"} {
		var out string
		if err := workflow.ExecuteActivity(ctx, stepActivity, step, result, password).Get(ctx, &out); err != nil {
			return "", err
		}
		result = out
	}
	return result, workflow.UpsertTypedSearchAttributes(ctx, searchattr.DagState.ValueSet("SUCCEED"))
}

func stepActivity(ctx context.Context, step, sofar, password string) (string, error) {
	if password != secret {
		return "", temporal.NewNonRetryableApplicationError("wrong password", "BadInput", nil)
	}
	activity.GetLogger(ctx).Debug("step", "name", step)
	if sofar == "" {
		return step, nil
	}
	return sofar + "," + step, nil
}

// runThreeSteps runs the workflow on a fresh task queue and returns its id.
func runThreeSteps(t *testing.T, c client.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	queue := "devserver-" + strings.ReplaceAll(t.Name(), "/", "-")
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(threeSteps)
	w.RegisterActivity(stepActivity)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        fmt.Sprintf("three-steps-%s-%d", t.Name(), time.Now().UnixNano()),
		TaskQueue: queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.Cluster.ValueSet("obcluster"),
			searchattr.Agent.ValueSet("127.0.0.1:2886"),
		),
	}, threeSteps, secret)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "prepare,bootstrap,finish" {
		t.Fatalf("result = %q", got)
	}
	return run.GetID()
}

func TestThreeActivityWorkflowCompletes(t *testing.T) {
	c := devservertest.NewClient(t, client.Options{})
	id := runThreeSteps(t, c)

	// The history holds the password only encrypted: read it with a client
	// that does not decrypt.
	raw := devservertest.NewClient(t, client.Options{DataConverter: converter.GetDefaultDataConverter()})
	ctx := context.Background()
	iter := raw.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var started *commonpb.Payloads
	n := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		n++
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			started = a.GetInput()
		}
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("bootstrap")) {
			t.Fatalf("event %d (%v) holds a plaintext payload", ev.GetEventId(), ev.GetEventType())
		}
	}
	if started == nil || len(started.Payloads) != 1 {
		t.Fatalf("no workflow input among %d events", n)
	}
	if enc := string(started.Payloads[0].Metadata[converter.MetadataEncoding]); enc != payloadcodec.MetadataEncoding {
		t.Fatalf("input encoding = %q, want %q", enc, payloadcodec.MetadataEncoding)
	}
}

func TestNamespaceAndSearchAttributesVisible(t *testing.T) {
	c := devservertest.NewClient(t, client.Options{})
	ctx := context.Background()

	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != devserver.DefaultRetention {
		t.Errorf("retention = %v, want %v", got, devserver.DefaultRetention)
	}

	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range searchattr.All {
		if got, ok := sas.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("search attribute %s = %v (present %v), want %v", name, got, ok, typ)
		}
	}

	// The attributes work in visibility queries.
	id := runThreeSteps(t, c)
	query := fmt.Sprintf(`WorkflowId = %q AND ObflowDagName = "Initialize cluster" AND ObflowDagState = "SUCCEED" AND ObflowCluster = "obcluster" AND ObflowDagID = 7`, id)
	var found int
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if found = len(resp.GetExecutions()); found == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if found != 1 {
		t.Fatalf("query %s found %d workflows, want 1", query, found)
	}
}

// TestWebUI checks what the browser relies on: the UI page, its API proxy
// listing workflows, its settings naming the codec endpoint, and that
// endpoint decoding a payload fetched through the proxy for the UI's origin.
func TestWebUI(t *testing.T) {
	s := devservertest.Server()
	c := devservertest.NewClient(t, client.Options{})
	id := runThreeSteps(t, c)

	resp := httpGet(t, s.UIURL()+"/namespaces/default/workflows")
	if resp.code != http.StatusOK || !strings.Contains(resp.contentType, "text/html") ||
		!strings.Contains(resp.body, "_app/immutable/entry/start") {
		t.Fatalf("UI page: %d %s %.200s", resp.code, resp.contentType, resp.body)
	}

	// The workflow list the UI shows comes from this proxy route.
	var list struct {
		Executions []struct {
			Execution struct{ WorkflowID string }
		}
	}
	q := url.Values{"query": {fmt.Sprintf("WorkflowId = %q", id)}}
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Executions) == 0 && time.Now().Before(deadline) {
		r := httpGet(t, s.UIURL()+"/api/v1/namespaces/default/workflows?"+q.Encode())
		if r.code != http.StatusOK {
			t.Fatalf("list via UI proxy: %d %s", r.code, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &list); err != nil {
			t.Fatalf("list via UI proxy: %v: %s", err, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list.Executions) != 1 || list.Executions[0].Execution.WorkflowID != id {
		t.Fatalf("UI proxy listed %+v, want %s", list.Executions, id)
	}

	var settings struct{ Codec struct{ Endpoint string } }
	r := httpGet(t, s.UIURL()+"/api/v1/settings")
	if err := json.Unmarshal([]byte(r.body), &settings); err != nil {
		t.Fatalf("settings: %v: %s", err, r.body)
	}
	if settings.Codec.Endpoint == "" || settings.Codec.Endpoint != s.CodecEndpoint() {
		t.Fatalf("UI codec endpoint = %q, want %q", settings.Codec.Endpoint, s.CodecEndpoint())
	}

	// The workflow's input as the UI receives it: encrypted.
	r = httpGet(t, s.UIURL()+"/api/v1/namespaces/default/workflows/"+url.PathEscape(id)+"/history")
	if r.code != http.StatusOK {
		t.Fatalf("history via UI proxy: %d %s", r.code, r.body)
	}
	var hist struct {
		History struct {
			Events []struct {
				WorkflowExecutionStartedEventAttributes *struct {
					Input json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.body), &hist); err != nil || len(hist.History.Events) == 0 ||
		hist.History.Events[0].WorkflowExecutionStartedEventAttributes == nil {
		t.Fatalf("history via UI proxy: %v: %.300s", err, r.body)
	}
	input := hist.History.Events[0].WorkflowExecutionStartedEventAttributes.Input
	if strings.Contains(string(input), secret) {
		t.Fatal("UI proxy returned the plaintext input")
	}

	// What the browser does with it: POST it to the codec's /decode from
	// the UI's origin.
	req, err := http.NewRequest(http.MethodPost, settings.Codec.Endpoint+"/decode", bytes.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", s.UIURL())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	dr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(dr.Body)
	dr.Body.Close()
	if dr.StatusCode != http.StatusOK || dr.Header.Get("Access-Control-Allow-Origin") != s.UIURL() {
		t.Fatalf("decode: %d %v %s", dr.StatusCode, dr.Header, body)
	}
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("decode response: %v: %s", err, body)
	}
	var got string
	if err := converter.GetDefaultDataConverter().FromPayloads(&decoded, &got); err != nil || got != secret {
		t.Fatalf("decoded input = %q, %v", got, err)
	}
}

type httpResult struct {
	code        int
	contentType string
	body        string
}

func httpGet(t *testing.T, u string) httpResult {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func TestBusyPortIsReportedNotFatal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	for _, opts := range []devserver.Options{
		{Port: port},
		{UIPort: port},
		{CodecPort: port},
	} {
		opts.DataDir = t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := devserver.Start(ctx, opts)
		cancel()
		var pe *devserver.PortInUseError
		if !errors.As(err, &pe) {
			if s != nil {
				s.Stop()
			}
			t.Fatalf("Start(%+v) err = %v, want PortInUseError", opts, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(port)) {
			t.Errorf("error %q does not name port %d", err, port)
		}
	}
}

func TestUnwritableDataDir(t *testing.T) {
	// A regular file where the data dir should be: unwritable even for root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := []string{file, filepath.Join(file, "sub")}
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, ro)
	}
	for _, dir := range dirs {
		s, err := devserver.Start(context.Background(), devserver.Options{DataDir: dir, Headless: true})
		var de *devserver.DataDirError
		if !errors.As(err, &de) {
			if s != nil {
				s.Stop()
			}
			t.Fatalf("Start(%s) err = %v, want DataDirError", dir, err)
		}
	}
}

// TestRestartKeepsDataAndAddsNewSearchAttributes stops a second server
// gracefully and starts it again on the same data dir with one more search
// attribute, as after an upgrade that adds one to searchattr.
func TestRestartKeepsDataAndAddsNewSearchAttributes(t *testing.T) {
	dir := t.TempDir()
	start := func(attrs map[string]enumspb.IndexedValueType) *devserver.Server {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := devserver.Start(ctx, devserver.Options{DataDir: dir, Headless: true, SearchAttributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := map[string]enumspb.IndexedValueType{"ObflowDagName": enumspb.INDEXED_VALUE_TYPE_KEYWORD}
	s := start(first)
	c, err := client.Dial(client.Options{HostPort: s.HostPort(), DataConverter: s.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: "survives-restart", TaskQueue: "nobody-polls",
	}, "SomeWorkflow", secret)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	s = start(searchattr.All)
	defer s.Stop()
	c, err = client.Dial(client.Options{HostPort: s.HostPort(), DataConverter: s.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	desc, err := c.DescribeWorkflowExecution(ctx, "survives-restart", run.GetRunID())
	if err != nil {
		t.Fatalf("workflow lost across restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status after restart = %v", st)
	}
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range searchattr.All {
		if _, ok := sas.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s missing after restart", name)
		}
	}
	if err := c.TerminateWorkflow(ctx, "survives-restart", "", "test done"); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryShardsSQLite checks a new SQLite store takes the shard count
// asked for, keeps it on a restart without one, and refuses another.
func TestHistoryShardsSQLite(t *testing.T) {
	dir := t.TempDir()
	start := func(shards int32) (*devserver.Server, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return devserver.Start(ctx, devserver.Options{DataDir: dir, Headless: true, HistoryShards: shards})
	}
	for _, shards := range []int32{2, 0} {
		s, err := start(shards)
		if err != nil {
			t.Fatal(err)
		}
		got := s.HistoryShards()
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if got != 2 {
			t.Fatalf("start with %d shards: running with %d, want 2", shards, got)
		}
	}
	s, err := start(3)
	var se *devserver.ShardCountError
	if !errors.As(err, &se) {
		if s != nil {
			_ = s.Stop()
		}
		t.Fatalf("3 shards on a 2-shard store: err = %v, want ShardCountError", err)
	}
	if want := filepath.Join(dir, devserver.DBFile) + " was created with 2 history shards, not 3"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
}
