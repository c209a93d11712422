//! The `streams=` value: how many migrations run at once and where each goes.
//!
//! - `N`: N streams, each from `from=` to `to=`;
//! - `N:alt`: N streams alternating direction (`from>to`, `to>from`, …);
//! - `A>B,C>D,…`: one stream per pair, from node A to node B, and so on.

use alloc::vec::Vec;

/// Most streams one run takes (one coordinating CPU each).
pub const MAX_STREAMS: usize = 64;

/// Where one stream migrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRoute {
    /// Source node.
    pub from: u32,
    /// Destination node.
    pub to: u32,
}

/// The `streams=` value before the nodes are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamsArg {
    /// `N` or `N:alt`.
    Count {
        /// Streams.
        n: usize,
        /// Odd streams go the other way.
        alternate: bool,
    },
    /// `A>B,…`: explicit routes.
    Routes(Vec<StreamRoute>),
}

impl StreamsArg {
    /// How many streams.
    pub fn len(&self) -> usize {
        match self {
            StreamsArg::Count { n, .. } => *n,
            StreamsArg::Routes(r) => r.len(),
        }
    }

    /// Whether there is no stream (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each stream's route, given the run's `from`/`to` for counts.
    pub fn routes(&self, from: u32, to: u32) -> Vec<StreamRoute> {
        match self {
            StreamsArg::Count { n, alternate } => (0..*n)
                .map(|i| {
                    if *alternate && i % 2 == 1 {
                        StreamRoute { from: to, to: from }
                    } else {
                        StreamRoute { from, to }
                    }
                })
                .collect(),
            StreamsArg::Routes(r) => r.clone(),
        }
    }
}

/// Why a `streams=` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamsError {
    /// Not a count in 1..=[`MAX_STREAMS`].
    BadCount,
    /// A route that is not `A>B` with two node numbers.
    BadRoute(usize),
    /// A route from a node to itself.
    SameNode(usize),
    /// More than [`MAX_STREAMS`] routes.
    TooMany,
}

impl core::fmt::Display for StreamsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StreamsError::BadCount => write!(f, "a stream count must be 1..={MAX_STREAMS}"),
            StreamsError::BadRoute(i) => write!(f, "route {} is not FROM>TO", i + 1),
            StreamsError::SameNode(i) => write!(f, "route {} goes from a node to itself", i + 1),
            StreamsError::TooMany => write!(f, "more than {MAX_STREAMS} routes"),
        }
    }
}

/// Parses `N`, `N:alt` or `A>B,C>D,…`.
///
/// # Errors
/// [`StreamsError`] naming what is wrong.
pub fn parse_streams(s: &str) -> Result<StreamsArg, StreamsError> {
    if !s.contains('>') {
        let (n, alternate) = match s.strip_suffix(":alt") {
            Some(n) => (n, true),
            None => (s, false),
        };
        let n: usize = n.parse().map_err(|_| StreamsError::BadCount)?;
        if !(1..=MAX_STREAMS).contains(&n) {
            return Err(StreamsError::BadCount);
        }
        return Ok(StreamsArg::Count { n, alternate });
    }
    let mut routes = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let (a, b) = part.split_once('>').ok_or(StreamsError::BadRoute(i))?;
        let from: u32 = a.parse().map_err(|_| StreamsError::BadRoute(i))?;
        let to: u32 = b.parse().map_err(|_| StreamsError::BadRoute(i))?;
        if from == to {
            return Err(StreamsError::SameNode(i));
        }
        routes.push(StreamRoute { from, to });
    }
    if routes.len() > MAX_STREAMS {
        return Err(StreamsError::TooMany);
    }
    Ok(StreamsArg::Routes(routes))
}

/// Where `bench=appcost`'s foreground keeps its buffers (`fg-node=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FgNode {
    /// On the streams' source node.
    Src,
    /// On their destination node.
    Dst,
    /// Block by block on both, alternating.
    Both,
}

impl FgNode {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FgNode::Src => "src",
            FgNode::Dst => "dst",
            FgNode::Both => "both",
        }
    }

    /// The placement named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [FgNode::Src, FgNode::Dst, FgNode::Both]
            .into_iter()
            .find(|n| n.name() == s)
    }

    /// The node of the `i`-th block of a buffer, for streams from `from` to `to`.
    pub fn node_of(self, i: usize, from: u32, to: u32) -> u32 {
        match self {
            FgNode::Src => from,
            FgNode::Dst => to,
            FgNode::Both if i.is_multiple_of(2) => from,
            FgNode::Both => to,
        }
    }
}
