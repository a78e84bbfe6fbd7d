//! Prometheus metrics of a session: counters kept as events happen, and values read
//! from the live transports and routing tables at each scrape.

use std::fmt::Write as _;

use plexus::{Session, WhatAmI, ZenohId};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Label sets: pairs of a static name and a value.
type Labels = Vec<(&'static str, String)>;

fn new_rtt_histogram() -> Histogram {
    // 50 µs .. ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The metrics of one session.
pub(crate) struct Metrics {
    registry: Registry,
    transports_opened: Family<Labels, Counter>,
    transports_closed: Family<Labels, Counter>,
    links_opened: Family<Labels, Counter>,
    links_closed: Family<Labels, Counter>,
    rtt: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub(crate) fn new(session: &Session) -> Metrics {
        let mut registry = Registry::default();
        let transports_opened = Family::<Labels, Counter>::default();
        let transports_closed = Family::<Labels, Counter>::default();
        let links_opened = Family::<Labels, Counter>::default();
        let links_closed = Family::<Labels, Counter>::default();
        let rtt = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            new_rtt_histogram as fn() -> Histogram,
        );
        registry.register(
            "plexus_transports_opened",
            "Transports opened, by the remote's kind",
            transports_opened.clone(),
        );
        registry.register(
            "plexus_transports_closed",
            "Transports closed, by the remote's kind and the kind of reason",
            transports_closed.clone(),
        );
        registry.register(
            "plexus_links_opened",
            "Links opened, by the remote's kind",
            links_opened.clone(),
        );
        registry.register(
            "plexus_links_closed",
            "Links closed, by the kind of reason",
            links_closed.clone(),
        );
        registry.register(
            "plexus_link_rtt_observed_seconds",
            "Round-trip times measured on the links to a remote process",
            rtt.clone(),
        );
        registry.register_collector(Box::new(Live {
            session: session.clone(),
        }));
        Metrics {
            registry,
            transports_opened,
            transports_closed,
            links_opened,
            links_closed,
            rtt,
        }
    }

    pub(crate) fn transport_opened(&self, whatami: WhatAmI) {
        self.transports_opened
            .get_or_create(&vec![("whatami", whatami.as_str().to_string())])
            .inc();
    }

    pub(crate) fn transport_closed(&self, whatami: &str, cause: &str, zid: ZenohId) {
        self.transports_closed
            .get_or_create(&vec![
                ("whatami", whatami.to_string()),
                ("cause", cause.to_string()),
            ])
            .inc();
        self.rtt.remove(&vec![
            ("remote_zid", zid.to_string()),
            ("whatami", whatami.to_string()),
        ]);
    }

    pub(crate) fn link_opened(&self, whatami: &str) {
        self.links_opened
            .get_or_create(&vec![("whatami", whatami.to_string())])
            .inc();
    }

    pub(crate) fn link_closed(&self, cause: &str) {
        self.links_closed
            .get_or_create(&vec![("cause", cause.to_string())])
            .inc();
    }

    pub(crate) fn observe_rtt(&self, zid: ZenohId, whatami: WhatAmI, rtt_us: u64) {
        self.rtt
            .get_or_create(&vec![
                ("remote_zid", zid.to_string()),
                ("whatami", whatami.as_str().to_string()),
            ])
            .observe(rtt_us as f64 / 1e6);
    }

    /// The exposition: OpenMetrics text (ends with `# EOF`) or Prometheus text 0.0.4.
    pub(crate) fn render(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        let res = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        if let Err(e) = res {
            tracing::error!("metrics: cannot encode: {e}");
            let _ = writeln!(out, "# metrics could not be encoded");
        }
        out
    }
}

/// Values read at each scrape: live transports, links and declarations.
#[derive(Debug)]
struct Live {
    session: Session,
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info = self.session.info();
        let transports = info.transports();
        let links = info.links();
        let whatami_of = |zid: ZenohId| {
            transports
                .iter()
                .find(|t| t.zid == zid)
                .map_or("unknown", |t| t.whatami.as_str())
        };

        let build = Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("local_id", self.session.zid().to_string()),
            ("local_whatami", self.session.mode().as_str().to_string()),
        ]);
        build.encode(encoder.encode_descriptor(
            "plexus_build",
            "This process's Plexus version, id and mode",
            None,
            build.metric_type(),
        )?)?;

        let mut m = encoder.encode_descriptor(
            "plexus_transports_open",
            "Transports open now, by the remote's kind",
            None,
            MetricType::Gauge,
        )?;
        for w in [WhatAmI::Router, WhatAmI::Peer, WhatAmI::Client] {
            let n = transports.iter().filter(|t| t.whatami == w).count() as i64;
            ConstGauge::new(n).encode(m.encode_family(&[("whatami", w.as_str())])?)?;
        }
        let mut m = encoder.encode_descriptor(
            "plexus_links_open",
            "Links open now",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(links.len() as i64)
            .encode(m.encode_family(&Vec::<(&str, &str)>::new())?)?;

        type Get = fn(&plexus::admin::TransportCounters) -> u64;
        let per_transport: [(&str, &str, Get); 5] = [
            (
                "plexus_transport_tx_bytes",
                "Bytes written to a transport's links",
                |s| s.tx_bytes,
            ),
            (
                "plexus_transport_rx_bytes",
                "Bytes read from a transport's links",
                |s| s.rx_bytes,
            ),
            (
                "plexus_transport_tx_messages",
                "Network messages sent on a transport",
                |s| s.tx_msgs,
            ),
            (
                "plexus_transport_rx_messages",
                "Network messages received on a transport",
                |s| s.rx_msgs,
            ),
            (
                "plexus_transport_dropped_messages",
                "Messages dropped by congestion control on a transport",
                |s| s.dropped,
            ),
        ];
        for (name, help, get) in per_transport {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for t in &transports {
                let Some(stats) = &t.stats else { continue };
                ConstCounter::new(get(stats)).encode(m.encode_family(&[
                    ("remote_zid", t.zid.to_string()),
                    ("whatami", t.whatami.as_str().to_string()),
                ])?)?;
            }
        }

        let mut m = encoder.encode_descriptor(
            "plexus_transport_tx_queue_bytes",
            "Bytes waiting in a transport's TX queue",
            None,
            MetricType::Gauge,
        )?;
        for t in &transports {
            let Some(stats) = &t.stats else { continue };
            ConstGauge::new(stats.tx_queued_bytes as i64).encode(m.encode_family(&[
                ("remote_zid", t.zid.to_string()),
                ("whatami", t.whatami.as_str().to_string()),
            ])?)?;
        }

        // A link's series are labelled with its transport's and its own facts.
        let link_labels = |l: &plexus::admin::LinkInfo| {
            [
                ("remote_zid", l.zid.to_string()),
                ("whatami", whatami_of(l.zid).to_string()),
                ("link_id", l.id.to_string()),
                ("src", l.src.clone()),
                ("dst", l.dst.clone()),
            ]
        };
        type LinkGet = fn(&plexus::admin::LinkInfo) -> u64;
        let per_link: [(&str, &str, LinkGet); 2] = [
            ("plexus_link_tx_bytes", "Bytes written to a link", |l| {
                l.tx_bytes
            }),
            ("plexus_link_rx_bytes", "Bytes read from a link", |l| {
                l.rx_bytes
            }),
        ];
        for (name, help, get) in per_link {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for l in &links {
                ConstCounter::new(get(l)).encode(m.encode_family(&link_labels(l))?)?;
            }
        }

        let mut m = encoder.encode_descriptor(
            "plexus_link_rtt_seconds",
            "The last round-trip time measured on a link (absent until measured)",
            None,
            MetricType::Gauge,
        )?;
        for l in &links {
            let Some(rtt) = l.rtt_us else { continue };
            ConstGauge::new(rtt as f64 / 1e6).encode(m.encode_family(&link_labels(l))?)?;
        }

        let d = info.declarations();
        let mut m = encoder.encode_descriptor(
            "plexus_declarations",
            "Declarations in the routing tables, by kind and origin",
            None,
            MetricType::Gauge,
        )?;
        for (kind, origin, n) in [
            ("subscriber", "local", d.local_subscribers),
            ("queryable", "local", d.local_queryables),
            ("token", "local", d.local_tokens),
            ("publisher", "local", d.local_publishers),
            ("subscriber", "remote", d.remote_subscribers),
            ("queryable", "remote", d.remote_queryables),
            ("token", "remote", d.remote_tokens),
        ] {
            ConstGauge::new(n as i64)
                .encode(m.encode_family(&[("kind", kind), ("origin", origin)])?)?;
        }

        let closed = info.closed_transports().len();
        let mut m = encoder.encode_descriptor(
            "plexus_closed_transports_remembered",
            "Closed transports kept in the history (adminspace/max_closed_transports)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(closed as i64).encode(m.encode_family(&Vec::<(&str, &str)>::new())?)?;
        Ok(())
    }
}
