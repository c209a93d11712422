//! `kvm-guest plan`: checks this host for a foliomove KVM guest and prints, one per line,
//! `arg VALUE` (QEMU arguments), `pin VCPU HOSTCPU` and `summary TEXT`; or every problem
//! found with what to do, and exit status 2. (The runner, xtask/src/kvm.rs, uses the library.)

use clap::{Parser, Subcommand};
use kvm_guest::{plan, Host, HostPaths, Request};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check the host and print the guest's QEMU arguments and vCPU pinning.
    Plan {
        /// Guest vCPUs.
        #[arg(long)]
        cpus: u32,
        /// MiB of RAM per guest node.
        #[arg(long)]
        mem_per_node: u64,
        /// Host node of each guest node, comma separated (one per guest node).
        #[arg(long, value_delimiter = ',', required = true)]
        host_nodes: Vec<u32>,
        /// Back guest memory with 2 MiB huge pages of the host node.
        #[arg(long)]
        hugepages: bool,
        /// PCI functions (DDDD:BB:DD.F) to assign with vfio-pci, comma separated.
        #[arg(long, value_delimiter = ',')]
        vfio: Vec<String>,
        /// Read the host under this root (ROOT/sys, ROOT/dev, ROOT/proc/cpuinfo) instead
        /// of `/`; for tests.
        #[arg(long)]
        host_root: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let Cmd::Plan {
        cpus,
        mem_per_node,
        host_nodes,
        hugepages,
        vfio,
        host_root,
    } = Cli::parse().cmd;
    let paths = host_root
        .as_deref()
        .map_or_else(HostPaths::system, HostPaths::under);
    let req = Request {
        cpus,
        nodes: host_nodes.len() as u32,
        mem_per_node_mib: mem_per_node,
        host_nodes,
        hugepages,
        vfio,
    };
    match plan(&Host::new(paths), &req) {
        Ok(p) => {
            for a in &p.args {
                println!("arg {a}");
            }
            for (v, c) in &p.pins {
                println!("pin {v} {c}");
            }
            println!("summary {}", p.summary);
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("kvm-guest: {e}");
            }
            ExitCode::from(2)
        }
    }
}
