package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMeasure(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%7 == 0 {
			w.Header().Set("Connection", "close") // the client must reconnect
		}
		assert.True(t, strings.HasPrefix(r.URL.Path, "/v2/presence/sub-key/load/channel/load-10/heartbeat"))
		assert.NotEmpty(t, r.URL.Query().Get("uuid"))
		_, _ = io.WriteString(w, bareBody)
	}))
	defer srv.Close()

	res, err := measure(t.Context(), strings.TrimPrefix(srv.URL, "http://"), newWorkload(10), 100, 4)
	require.NoError(t, err)
	assert.Equal(t, 100, res.requests)
	assert.Equal(t, int64(100), hits.Load())
	assert.Positive(t, res.rate())
	assert.LessOrEqual(t, res.p50, res.p99)
	assert.LessOrEqual(t, res.p99, res.max)
}

func TestMeasureFailsOnErrorStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	_, err := measure(t.Context(), strings.TrimPrefix(srv.URL, "http://"), newWorkload(3), 10, 2)
	require.ErrorIs(t, err, errStatus)
}
