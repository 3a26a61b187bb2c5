package worker

import (
	"sync"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/internal/payloadcodec"
)

var dcOnce struct {
	sync.Once
	dc converter.DataConverter
}

// dataConverter is the codec's converter, to read payloads in history.
func dataConverter() converter.DataConverter {
	dcOnce.Do(func() {
		key, err := payloadcodec.LoadKey(env.keyFile)
		if err == nil {
			dcOnce.dc, _ = payloadcodec.DataConverter(key)
		}
	})
	return dcOnce.dc
}

func decodePayload(p *commonpb.Payload, v any) error {
	return dataConverter().FromPayload(p, v)
}
