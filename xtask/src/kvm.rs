//! A KVM guest on a real server (`--accel kvm --host-nodes A,B,... [--hugepages]
//! [--vfio BDF,...]`): tools/kvm-guest (as a library) checks the host in sysfs and plans the
//! guest; this module turns the plan into the machine's [`KvmBinding`], the kernel's
//! `host-binding=` value, and after QEMU starts pins each vCPU thread (QMP
//! `query-cpus-fast`) to its host CPU. `FOLIOMOVE_HOST_ROOT` reads a fixture tree instead of
//! `/` (for tests and the check).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kvm_guest::{Host, HostPaths, Request};

use crate::cli::{Accel, Options};
use crate::host::Fail;
use crate::machine::KvmBinding;
use crate::qmp::Qmp;
use crate::shape::Shape;

/// A planned KVM guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmGuest {
    /// What the machine's QEMU arguments change.
    pub binding: KvmBinding,
    /// (vCPU, host CPU) pairs.
    pub pins: Vec<(u32, u32)>,
    /// One line for the user.
    pub summary: String,
    /// For the kernel's results: `kvm:G-H/...:ENGINES[:huge]` (kcore::hostbind).
    pub host_binding: String,
}

/// The guest's host nodes: `--host-nodes`, else host node i for guest node i.
///
/// # Errors
/// [`Fail`] (exit 2) when their number is not the number of guest nodes.
fn host_nodes(o: &Options, nodes: u32) -> Result<Vec<u32>, Fail> {
    let list: Vec<u32> = match &o.host_nodes {
        Some(s) => s
            .split(',')
            .map(|n| n.parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                Fail::usage(format!(
                    "--host-nodes takes host node numbers A,B,..., got '{s}'"
                ))
            })?,
        None => (0..nodes).collect(),
    };
    if list.len() != nodes as usize {
        return Err(Fail::usage(format!(
            "--host-nodes names {} host node(s) for {nodes} guest node(s)",
            list.len()
        )));
    }
    Ok(list)
}

/// Plans the KVM guest the options ask for (`None`: none asked), notes its summary.
///
/// # Errors
/// [`Fail`]: exit 2 for options that do not go together, exit 8 (after printing every problem
/// as `kvm-guest: ...`) when this host cannot run it.
pub fn plan(o: &Options, shape: &Shape, out: &Path) -> Result<Option<KvmGuest>, Fail> {
    let paths = match std::env::var_os("FOLIOMOVE_HOST_ROOT").filter(|r| !r.is_empty()) {
        Some(r) => HostPaths::under(Path::new(&r)),
        None => HostPaths::system(),
    };
    plan_on(o, shape, out, paths)
}

/// [`plan`] against the host under `paths`.
///
/// # Errors
/// As [`plan`].
pub fn plan_on(
    o: &Options,
    shape: &Shape,
    out: &Path,
    paths: HostPaths,
) -> Result<Option<KvmGuest>, Fail> {
    if o.host_nodes.is_none() && o.vfio.is_none() {
        if o.hugepages {
            return Err(Fail::usage("--hugepages needs --host-nodes"));
        }
        return Ok(None);
    }
    if o.accel != Accel::Kvm {
        return Err(Fail::usage("--host-nodes and --vfio need --accel kvm"));
    }
    let hnodes = host_nodes(o, shape.nodes)?;
    let vfio: Vec<String> = o
        .vfio
        .as_deref()
        .map(|v| v.split(',').map(String::from).collect())
        .unwrap_or_default();
    let req = Request {
        cpus: shape.cpus,
        nodes: shape.nodes,
        mem_per_node_mib: shape.mem_per_node_mib,
        host_nodes: hnodes.clone(),
        hugepages: o.hugepages,
        vfio: vfio.clone(),
    };
    let p = kvm_guest::plan(&Host::new(paths), &req).map_err(|errors| {
        for e in errors {
            eprintln!("kvm-guest: {e}");
        }
        Fail::setup("this host cannot run the requested KVM guest (see above)")
    })?;
    let binding = binding_of(&p.args, out.join("qmp.sock"))?;
    crate::note(&p.summary);
    let pairs: Vec<String> = hnodes
        .iter()
        .enumerate()
        .map(|(g, h)| format!("{g}-{h}"))
        .collect();
    let engines = vfio.iter().filter(|v| !v.is_empty()).count();
    let mut host_binding = format!("kvm:{}:{engines}", pairs.join("/"));
    if o.hugepages {
        host_binding.push_str(":huge");
    }
    Ok(Some(KvmGuest {
        binding,
        pins: p.pins,
        summary: p.summary,
        host_binding,
    }))
}

/// tools/kvm-guest's QEMU arguments (`-accel`, `-cpu`, one `-object` per node, `-device`s)
/// as the machine's typed binding.
///
/// # Errors
/// [`Fail`] (exit 8) for an argument the runner does not know how to place.
pub fn binding_of(args: &[String], qmp: PathBuf) -> Result<KvmBinding, Fail> {
    let mut b = KvmBinding {
        accel: "kvm".into(),
        cpu: "host".into(),
        backends: Vec::new(),
        devices: Vec::new(),
        qmp,
    };
    for pair in args.chunks(2) {
        match pair {
            [k, v] if k == "-accel" => b.accel = v.clone(),
            [k, v] if k == "-cpu" => b.cpu = v.clone(),
            [k, v] if k == "-object" => b.backends.push(v.clone()),
            [k, v] if k == "-device" => b.devices.push(v.clone()),
            other => {
                return Err(Fail::setup(format!(
                    "tools/kvm-guest planned an argument the runner cannot place: {}",
                    other.join(" ")
                )))
            }
        }
    }
    Ok(b)
}

/// The kernel command line with `host-binding=` added (unless given).
pub fn with_host_binding(cmdline: String, g: &KvmGuest) -> String {
    if format!(" {cmdline} ").contains(" host-binding=") {
        return cmdline;
    }
    format!("{cmdline} host-binding={}", g.host_binding)
}

/// In `--dry-run`: the pinning that would be done.
pub fn print_pins(pins: &[(u32, u32)]) {
    for (v, c) in pins {
        crate::note(&format!("would pin vCPU {v} to host CPU {c}"));
    }
}

/// In the background: once QEMU's QMP socket answers (up to 30 s), pins each vCPU thread to
/// its host CPU.
pub fn pin_vcpus(socket: PathBuf, pins: Vec<(u32, u32)>) {
    std::thread::spawn(move || {
        let mut stream = None;
        for _ in 0..300 {
            if let Ok(s) = UnixStream::connect(&socket) {
                stream = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(stream) = stream else {
            crate::note("no QMP socket: vCPUs not pinned");
            return;
        };
        if let Err(e) = pin_over(stream, &pins) {
            crate::note(&format!("vCPUs not pinned: {e}"));
        }
    });
}

fn pin_over(stream: UnixStream, pins: &[(u32, u32)]) -> Result<(), String> {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut q = Qmp::handshake(stream).map_err(|e| e.to_string())?;
    let cpus = q
        .execute("query-cpus-fast", None)
        .map_err(|e| e.to_string())?;
    for cpu in cpus.as_array().into_iter().flatten() {
        let (Some(v), Some(tid)) = (cpu["cpu-index"].as_u64(), cpu["thread-id"].as_i64()) else {
            continue;
        };
        let Some(&(_, host)) = pins.iter().find(|(pv, _)| u64::from(*pv) == v) else {
            continue;
        };
        let mut set = CpuSet::new();
        set.set(host as usize).map_err(|e| e.to_string())?;
        sched_setaffinity(Pid::from_raw(tid as i32), &set).map_err(|e| e.to_string())?;
        crate::note(&format!(
            "pinned vCPU {v} (thread {tid}) to host CPU {host}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    fn opts(args: &[&str]) -> Options {
        crate::cli::parse(args.iter().map(|s| s.to_string())).unwrap()
    }

    fn planned(args: &[&str]) -> Result<Option<KvmGuest>, Fail> {
        let o = opts(args);
        let shape = Shape::new(&o.shape).unwrap();
        let root = std::env::temp_dir().join(format!(
            "xtask-kvm-{}-{}",
            std::process::id(),
            args.join("_").replace(['/', ','], "-")
        ));
        crate::check_groups::fixture_host(&root).unwrap();
        let r = plan_on(&o, &shape, Path::new("out"), HostPaths::under(&root));
        let _ = std::fs::remove_dir_all(&root);
        r
    }

    #[test]
    fn options_that_do_not_go_together() {
        let usage = |args: &[&str]| {
            let f = planned(args).unwrap_err();
            assert_eq!(f.exit, Exit::Usage, "{args:?}");
            f.lines[0].clone()
        };
        assert_eq!(usage(&["--hugepages"]), "--hugepages needs --host-nodes");
        assert_eq!(
            usage(&["--host-nodes", "0,1"]),
            "--host-nodes and --vfio need --accel kvm"
        );
        assert_eq!(
            usage(&["--accel", "kvm", "--host-nodes", "0"]),
            "--host-nodes names 1 host node(s) for 2 guest node(s)"
        );
        assert_eq!(planned(&["--accel", "kvm"]).unwrap(), None);
    }

    #[test]
    fn guest_bound_pinned_and_recorded() {
        let g = planned(&[
            "--accel",
            "kvm",
            "--ptdma",
            "0",
            "--cpus",
            "4",
            "--host-nodes",
            "2,3",
            "--vfio",
            "0000:c1:00.2",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(g.host_binding, "kvm:0-2/1-3:1");
        assert_eq!(g.pins, [(0, 32), (1, 33), (2, 48), (3, 49)]);
        assert_eq!(g.binding.devices, ["vfio-pci,host=0000:c1:00.2"]);
        assert_eq!(g.binding.qmp, Path::new("out/qmp.sock"));
        assert_eq!(
            with_host_binding("test=all".into(), &g),
            "test=all host-binding=kvm:0-2/1-3:1"
        );
        assert_eq!(
            with_host_binding("host-binding=x".into(), &g),
            "host-binding=x",
            "given by the user"
        );
        // Host nodes default to 0..nodes.
        let d = planned(&["--accel", "kvm", "--vfio", "0000:c1:00.2"])
            .unwrap()
            .unwrap();
        assert_eq!(d.host_binding, "kvm:0-0/1-1:1");
    }

    #[test]
    fn host_that_cannot_run_it() {
        let f = planned(&["--accel", "kvm", "--host-nodes", "1,7", "--hugepages"]).unwrap_err();
        assert_eq!(f.exit, Exit::Setup);
        assert_eq!(
            f.lines,
            ["this host cannot run the requested KVM guest (see above)"]
        );
    }
}
