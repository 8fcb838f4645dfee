//! Wires the cluster's DNS server (`rhea-dns`) to this node: the zone from
//! `dns-domain`/`dns-ttl`, the sockets on every bind address at
//! `dns-port`, and each answer from the node's Raft view at query time.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use rhea_cluster::Role;
use rhea_commands::Shared;
use rhea_dns::{Member, Stats, View, Zone};

use crate::ServerError;

/// Set once the DNS server runs; the metrics endpoint reads it.
static STATS: OnceLock<Arc<Stats>> = OnceLock::new();

/// Starts the DNS server if `dns-port` is set.
pub(crate) async fn start(shared: &Arc<Shared>) -> Result<(), ServerError> {
    let (port, domain, ttl, binds, own_addr) = {
        let c = shared.config.read();
        (c.dns_port, c.dns_domain.clone(), c.dns_ttl, c.bind.clone(), crate::listener::advertised_addr(&c))
    };
    if port == 0 {
        return Ok(());
    }
    let zone = Zone::new(&domain, ttl)?;
    let stats = STATS.get_or_init(|| Arc::new(Stats::default())).clone();
    let shared = shared.clone();
    let view = Arc::new(move || view(&shared, &own_addr));
    rhea_dns::serve(&binds, port, zone, view, stats).await?;
    Ok(())
}

fn view(shared: &Shared, own_addr: &str) -> View {
    let Some(cluster) = shared.cluster.get() else {
        // A standalone server is its own master.
        return View { leader: Some(0), members: vec![Member { id: 0, addr: own_addr.to_string() }], serial: 1 };
    };
    let st = cluster.status();
    let leader = match st.role {
        Role::Leader => Some(st.id),
        // A follower names the leader it follows, never itself: only the
        // Raft role says this node leads.
        Role::Follower if st.leader_id != 0 && st.leader_id != st.id => Some(st.leader_id),
        // A (pre-)candidate has lost its leader: it knows none.
        _ => None,
    };
    let members = st.peers.into_iter().filter_map(|p| p.client_addr.map(|addr| Member { id: p.id, addr })).collect();
    View { leader, members, serial: st.term as u32 }
}

/// `rhea_dns_queries_total{rcode}` on the metrics endpoint, once DNS runs.
pub(crate) fn encode_metrics(enc: &mut DescriptorEncoder) -> std::fmt::Result {
    let Some(s) = STATS.get() else { return Ok(()) };
    let mut f =
        enc.encode_descriptor("rhea_dns_queries", "DNS queries answered, per rcode", None, MetricType::Counter)?;
    for (rcode, n) in [
        ("noerror", &s.noerror),
        ("nxdomain", &s.nxdomain),
        ("servfail", &s.servfail),
        ("refused", &s.refused),
        ("other", &s.bad),
    ] {
        f.encode_family(&[("rcode", rcode)])?.encode_counter::<NoLabelSet, _, u64>(&n.load(Ordering::Relaxed), None)?;
    }
    Ok(())
}
