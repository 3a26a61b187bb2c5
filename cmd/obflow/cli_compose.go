package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/internal/searchattr"
	"github.com/obflow/obflow/internal/temporalclient"
)

// Environment read by codec-server (besides temporalclient's).
const (
	codecKeyEnv     = temporalclient.CodecKeyFileEnv
	codecOriginsEnv = "OBFLOW_CODEC_CORS_ORIGINS"
)

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// newTemporalSetupCmd is `obflow temporal-setup`: what a deployment on an external Temporal
// (docker-compose, Temporal Cloud) needs once: obflow's search attributes registered, and the
// payload codec key every obflow process shares. With --check it changes nothing and exits 0
// only when the attributes exist (and --queue has a poller): a health check.
func newTemporalSetupCmd() *cobra.Command {
	var (
		tc      temporalclient.Config
		check   bool
		queue   string
		timeout time.Duration
	)
	cmd := clientCmd(&cobra.Command{
		Use:   "temporal-setup",
		Short: "Register obflow's search attributes on a Temporal cluster and create the codec key",
		Long: `Connects like every obflow command (flags, else TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and API
key from the environment), creates the payload codec key file when it does not exist yet, and
registers obflow's search attributes (idempotent). The dev stack does both by itself; a deployment
on its own Temporal cluster (docker-compose, Temporal Cloud) runs this once.

With --check it changes nothing and exits 0 only when the attributes exist (and --queue has a
worker polling it): a health check.`,
	}, 0, 0, func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		keyFile := tc.CodecKeyFile
		if keyFile == "" {
			keyFile = os.Getenv(temporalclient.CodecKeyFileEnv)
		}
		if keyFile != "" && !check {
			if _, err := payloadcodec.LoadOrCreateKey(keyFile); err != nil {
				return fmt.Errorf("codec key: %w", err)
			}
		}
		opts, err := tc.Options(slog.New(slog.DiscardHandler))
		if err != nil {
			return usageError{err}
		}
		c, err := dialRetry(ctx, opts)
		if err != nil {
			return err
		}
		defer c.Close()
		if check {
			return checkTemporal(ctx, c, opts.Namespace, queue)
		}
		_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: opts.Namespace, SearchAttributes: searchattr.All,
		})
		var exists *serviceerror.AlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register search attributes: %w", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "search attributes registered in namespace %s; codec key %s\n", opts.Namespace, orDash(keyFile))
		return nil
	})
	tc.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&check, "check", false, "only check: attributes registered (and --queue polled); exit 0 or 1")
	cmd.Flags().StringVar(&queue, "queue", "", "with --check: a task queue that must have a worker polling it")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for Temporal")
	return cmd
}

// dialRetry connects, retrying while Temporal is still starting (compose starts everything at
// once).
func dialRetry(ctx context.Context, opts client.Options) (client.Client, error) {
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
		case <-time.After(2 * time.Second):
		}
	}
}

func checkTemporal(ctx context.Context, c client.Client, ns, queue string) error {
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return err
	}
	for name := range searchattr.All {
		if _, ok := sa.GetCustomAttributes()[name]; !ok {
			return fmt.Errorf("search attribute %s is not registered in %s (run obflow temporal-setup)", name, ns)
		}
	}
	if queue == "" {
		return nil
	}
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
	})
	if err != nil {
		return err
	}
	if len(resp.GetPollers()) == 0 {
		return fmt.Errorf("no worker polls task queue %s", queue)
	}
	return nil
}

// newCodecServerCmd is `obflow codec-server`: the payload codec endpoint for a Temporal Web UI
// (or `temporal --codec-endpoint`) outside the dev stack.
func newCodecServerCmd() *cobra.Command {
	var (
		listen, keyFile, origins, checkURL string
	)
	cmd := clientCmd(&cobra.Command{
		Use:   "codec-server",
		Short: "Serve the payload codec endpoint so the Temporal Web UI can show obflow's encrypted payloads",
	}, 0, 0, func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if checkURL != "" {
			return checkCodec(ctx, checkURL)
		}
		if keyFile == "" {
			return usagef("no codec key: give --codec-key-file or set %s", codecKeyEnv)
		}
		key, err := payloadcodec.LoadKey(keyFile)
		if err != nil {
			return fmt.Errorf("codec key: %w", err)
		}
		var allowed []string
		for _, o := range strings.Split(origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				allowed = append(allowed, o)
			}
		}
		h, err := payloadcodec.HTTPHandler(key, slices.Clip(allowed))
		if err != nil {
			return err
		}
		srv := &http.Server{Addr: listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		fmt.Fprintf(cmd.OutOrStdout(), "codec endpoint http://%s (origins: %s)\n", listen, orDash(origins))
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shut)
		}
	})
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "address to serve on")
	cmd.Flags().StringVar(&keyFile, "codec-key-file", envOr(codecKeyEnv, ""), "payload codec key file ($"+codecKeyEnv+")")
	cmd.Flags().StringVar(&origins, "cors-origins", envOr(codecOriginsEnv, "http://localhost:8080"), "comma-separated Web UI origins allowed to call it ($"+codecOriginsEnv+")")
	cmd.Flags().StringVar(&checkURL, "check", "", "only check that the codec endpoint at this URL answers; exit 0 or 1")
	return cmd
}

func checkCodec(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/decode", bytes.NewReader([]byte(`{"payloads":[]}`)))
	if err != nil {
		return usageError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("codec endpoint %s: status %d", base, resp.StatusCode)
	}
	return nil
}
