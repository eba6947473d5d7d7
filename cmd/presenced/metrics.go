package main

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// metricsNamespace prefixes every metric presenced exports.
const metricsNamespace = "presenced"

// latencyBuckets, in seconds, span a loopback heartbeat (tens of
// microseconds) up to a subscribe long-poll (280 s).
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
}

// metrics holds the registry of one server and the instruments fed by
// httpapi's Config.Observe. It is safe for concurrent use.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // endpoint, status
	latency  *prometheus.HistogramVec // endpoint

	// series caches the instruments of each (endpoint, status) pair, so that
	// observing a request costs no label hashing and no allocation once the
	// pair has been seen.
	series sync.Map // seriesKey -> *seriesInstruments
}

type seriesKey struct {
	endpoint string
	status   int
}

type seriesInstruments struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// newMetrics returns the metrics of a server running eng: request counts and
// latencies, the engine's counters (read from eng.Stats at every scrape), and
// the Go runtime and process collectors. Each server has its own registry, so
// several can live in one process.
func newMetrics(eng statsSource) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "Requests to the presence API by endpoint and HTTP status.",
		}, []string{"endpoint", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to answer a presence API request, by endpoint.",
			Buckets:   latencyBuckets,
		}, []string{"endpoint"}),
	}
	m.registry.MustRegister(
		m.requests,
		m.latency,
		newEngineCollector(eng),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if r, ok := eng.(interface{ Repairs() uint64 }); ok {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: "cluster",
			Name:      "repairs_total",
			Help:      "Corrections of this node's view of the JetStream buckets, made because messages were gone before it read them (it fell behind); its events for those members may differ from other nodes'.",
		}, func() float64 { return float64(r.Repairs()) }))
	}
	return m
}

// watchSubscribe exports the subscribe long-poll's figures of api, read from
// api.SubscribeStats at every scrape.
func (m *metrics) watchSubscribe(api *httpapi.Handler) {
	m.registry.MustRegister(newSubscribeCollector(api))
}

// observe records one answered request. It has the signature of
// httpapi.Config.Observe and runs on the request's goroutine.
func (m *metrics) observe(endpoint string, status int, d time.Duration) {
	k := seriesKey{endpoint, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &seriesInstruments{
			requests: m.requests.WithLabelValues(endpoint, strconv.Itoa(status)),
			latency:  m.latency.WithLabelValues(endpoint),
		})
	}
	s := v.(*seriesInstruments)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.registry,
		promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
}

// engineCollector exports engine.Stats as gauges and counters. Collect takes
// one snapshot per scrape; Stats takes no lock.
type engineCollector struct {
	eng statsSource

	members, channels, uuids            *prometheus.Desc
	heartbeats, joins, leaves, timeouts *prometheus.Desc
	eventsPublished, eventsDropped      *prometheus.Desc
}

// statsSource is what serves presence, as far as metrics go: the engine, or
// a cluster node.
type statsSource interface{ Stats() engine.Stats }

func newEngineCollector(eng statsSource) *engineCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, nil, nil)
	}
	return &engineCollector{
		eng:             eng,
		members:         desc("members", "Memberships (uuid, channel pairs) present."),
		channels:        desc("channels", "Channels with at least one member."),
		uuids:           desc("uuids", "Distinct (sub key, uuid) pairs present on some channel."),
		heartbeats:      desc("heartbeats_total", "Heartbeats the engine accepted."),
		joins:           desc("joins_total", "Joins: a uuid arriving on a channel."),
		leaves:          desc("leaves_total", "Explicit leaves."),
		timeouts:        desc("timeouts_total", "Members removed because their presence timeout passed."),
		eventsPublished: desc("events_published_total", "Presence events handed to the event bus."),
		eventsDropped:   desc("events_dropped_total", "Presence events dropped by subscriptions whose buffer was full."),
	}
}

// Describe implements prometheus.Collector.
func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.members, c.channels, c.uuids,
		c.heartbeats, c.joins, c.leaves, c.timeouts,
		c.eventsPublished, c.eventsDropped,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.eng.Stats()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.members, s.Members)
	gauge(c.channels, s.Channels)
	gauge(c.uuids, s.UUIDs)
	counter(c.heartbeats, s.Heartbeats)
	counter(c.joins, s.Joins)
	counter(c.leaves, s.Leaves)
	counter(c.timeouts, s.Timeouts)
	counter(c.eventsPublished, s.EventsPublished)
	counter(c.eventsDropped, s.EventsDropped)
}

// subscribeCollector exports httpapi.SubscribeStats.
type subscribeCollector struct {
	api *httpapi.Handler

	waiting, subKeys, events, bytes, gaps *prometheus.Desc
}

func newSubscribeCollector(api *httpapi.Handler) *subscribeCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "subscribe", name), help, nil, nil)
	}
	return &subscribeCollector{
		api:     api,
		waiting: desc("waiting", "Subscribe long-polls waiting for presence events."),
		subKeys: desc("cached_sub_keys", "Sub keys whose presence events are kept for the long-polls."),
		events:  desc("cached_events", "Presence events kept for the long-polls, all sub keys together."),
		bytes:   desc("cached_bytes", "Memory of the presence events kept for the long-polls, as counted against -subscribe-cache-bytes."),
		gaps:    desc("gaps_total", "Times the feed behind the long-polls fell behind the engine and dropped events."),
	}
}

// Describe implements prometheus.Collector.
func (c *subscribeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.subKeys, c.events, c.bytes, c.gaps} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *subscribeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.api.SubscribeStats()
	ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(s.Waiting))
	ch <- prometheus.MustNewConstMetric(c.subKeys, prometheus.GaugeValue, float64(s.CachedSubKeys))
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(s.CachedEvents))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.CachedBytes))
	ch <- prometheus.MustNewConstMetric(c.gaps, prometheus.CounterValue, float64(s.Gaps))
}
