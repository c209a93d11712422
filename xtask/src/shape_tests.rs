use super::*;
use crate::machine::{Firmware, Machine};

fn req() -> ShapeRequest {
    ShapeRequest::default()
}

fn topo(s: u32, d: u32, c: u32, t: u32) -> ShapeRequest {
    ShapeRequest {
        sockets: Some(s),
        dies: Some(d),
        cores: Some(c),
        threads: Some(t),
        cpu_model: "EPYC-Milan,level=0x1f".into(),
        ptdma: 0,
        ..req()
    }
}

fn machine(shape: Shape) -> Machine {
    Machine::kernel(
        "qemu-system-x86_64".into(),
        "tcg,thread=multi".into(),
        shape,
        Firmware::SeaBios,
        "target/release/kernel".into(),
        "test=all".into(),
    )
}

/// The default machine, argument for argument as the former bash runner built it.
#[test]
fn default_machine_qemu_args() {
    let s = Shape::new(&req()).unwrap();
    assert_eq!(
        s.expect_args(),
        "expect-cpus=2 expect-nodes=2 expect-node-mib=512 expect-ptdma=2"
    );
    assert_eq!(
        machine(s).qemu_args().join(" "),
        "qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m 1024M \
         -display none -vga none -nic none -monitor none -serial stdio -no-reboot \
         -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -object memory-backend-memfd,id=m0,size=512M,share=on -numa node,nodeid=0,cpus=0-0,memdev=m0 \
         -object memory-backend-memfd,id=m1,size=512M,share=on -numa node,nodeid=1,cpus=1-1,memdev=m1 \
         -kernel target/release/kernel -append test=all"
    );
}

/// Check suite: 4 CPUs on 4 nodes of 256 MiB with 4 engines.
#[test]
fn four_nodes_four_engines() {
    let s = Shape::new(&ShapeRequest {
        cpus: Some(4),
        nodes: 4,
        mem_per_node_mib: 256,
        ptdma: 4,
        ..req()
    })
    .unwrap();
    assert_eq!(
        s.expect_args(),
        "expect-cpus=4 expect-nodes=4 expect-node-mib=256 expect-ptdma=4"
    );
    assert_eq!(
        s.node_cpus(),
        [Some((0, 0)), Some((1, 1)), Some((2, 2)), Some((3, 3))]
    );
}

/// Check suite shapes smp-4cpu, smp-8cpu, the x2APIC ones on QEMU 10, and README's example.
#[test]
fn topologies_of_the_check_suite() {
    for (t, cpus, smp, expect_topo, max_apic, x2apic) in [
        (
            topo(1, 2, 2, 1),
            4,
            "4,sockets=1,dies=2,cores=2,threads=1",
            "1s2d2c1t2n",
            3,
            false,
        ),
        (
            topo(2, 2, 2, 1),
            8,
            "8,sockets=2,dies=2,cores=2,threads=1",
            "2s2d2c1t2n",
            7,
            false,
        ),
        (
            topo(2, 2, 1, 1),
            4,
            "4,sockets=2,dies=2,cores=1,threads=1",
            "2s2d1c1t2n",
            3,
            false,
        ),
        (
            topo(2, 9, 8, 2),
            288,
            "288,sockets=2,dies=9,cores=8,threads=2",
            "2s9d8c2t2n",
            399,
            true,
        ),
    ] {
        let s = Shape::new(&t).unwrap();
        assert_eq!(s.cpus, cpus);
        assert_eq!(s.smp(), smp);
        assert_eq!(s.expect_topo().as_deref(), Some(expect_topo));
        assert_eq!(s.max_apic_id(), max_apic);
        assert_eq!(s.needs_x2apic(), x2apic);
    }
    let readme = ShapeRequest {
        cpus: Some(8),
        ..topo(2, 2, 2, 1)
    };
    assert_eq!(Shape::new(&readme).unwrap().cpus, 8);
}

/// The shape checks the former bash runner made, with its messages.
#[test]
fn clashing_shapes_are_refused() {
    let e = |r: ShapeRequest| Shape::new(&r).unwrap_err().to_string();
    assert_eq!(
        e(ShapeRequest {
            cpus: Some(6),
            ..topo(2, 2, 2, 1)
        }),
        "--cpus 6 differs from sockets x dies x cores x threads = 8"
    );
    assert_eq!(
        e(topo(64, 64, 1, 1)),
        "the shape has 4096 CPUs; at most 512"
    );
    assert_eq!(
        e(ShapeRequest {
            nodes: 3,
            ..topo(2, 2, 1, 1)
        }),
        "4 CPUs do not split evenly into 3 NUMA nodes"
    );
    assert_eq!(
        e(ShapeRequest {
            nodes: 4,
            ..topo(1, 1, 2, 2)
        }),
        "4 NUMA nodes of 1 CPUs would split a core of 2 threads"
    );
    // Only one level given: the others are 1.
    let one = Shape::new(&ShapeRequest {
        threads: Some(2),
        nodes: 1,
        ptdma: 0,
        ..req()
    })
    .unwrap();
    assert_eq!(one.smp(), "2,sockets=1,dies=1,cores=1,threads=2");
    assert_eq!(one.expect_topo().as_deref(), Some("1s1d1c2t1n"));
}

/// Without a topology, CPUs need not divide into nodes: nodes past the CPUs have none.
#[test]
fn cpu_less_nodes_and_the_slit() {
    let s = Shape::new(&ShapeRequest {
        cpus: Some(2),
        nodes: 8,
        mem_per_node_mib: 256,
        numa_dist: NumaDist::Line,
        ..req()
    })
    .unwrap();
    let cpus = s.node_cpus();
    assert_eq!(cpus[..3], [Some((0, 0)), Some((1, 1)), None]);
    assert!(cpus[2..].iter().all(Option::is_none));
    let d = s.numa_dist_args();
    assert_eq!(d.len(), 28);
    assert_eq!(d[0], "dist,src=0,dst=1,val=20");
    assert_eq!(d[6], "dist,src=0,dst=7,val=80");
    let args = machine(s).qemu_args();
    let joined = args.join(" ");
    assert!(joined.contains("-numa node,nodeid=7,memdev=m7 -numa dist,src=0,dst=1,val=20"));
    // 3 CPUs on 2 nodes: the first node takes the extra one.
    let odd = Shape::new(&ShapeRequest {
        cpus: Some(3),
        ..req()
    })
    .unwrap();
    assert_eq!(odd.node_cpus(), [Some((0, 1)), Some((2, 2))]);
    // The chain distance is capped at 254 (a SLIT byte; 255 means unreachable).
    let far = Shape::new(&ShapeRequest {
        nodes: 8,
        numa_dist: NumaDist::Line,
        ptdma: 0,
        ..req()
    })
    .unwrap();
    assert!(far.numa_dist_args().iter().all(|a| !a.ends_with("val=255")));
}

/// The device proxy's limit applies only with engines; 68 GiB on 4 nodes fits.
#[test]
fn proxy_ram_limit_only_with_engines() {
    let big = ShapeRequest {
        nodes: 8,
        mem_per_node_mib: 384,
        ..req()
    };
    assert!(matches!(Shape::new(&big), Err(ShapeError::ProxyRam(_))));
    assert!(Shape::new(&ShapeRequest { ptdma: 0, ..big }).is_ok());
    let huge = ShapeRequest {
        cpus: Some(2),
        nodes: 4,
        mem_per_node_mib: 17408,
        numa_dist: NumaDist::Line,
        ..req()
    };
    let s = Shape::new(&huge).unwrap();
    assert!(machine(s).qemu_args().join(" ").contains("-m 69632M"));
    assert!(Shape::new(&ShapeRequest {
        nodes: 7,
        mem_per_node_mib: 448,
        ..req()
    })
    .is_ok());
}

/// qboot replaces SeaBIOS where QEMU 10 needs it.
#[test]
fn qboot_firmware_argument() {
    let mut m = machine(Shape::new(&topo(1, 2, 2, 1)).unwrap());
    m.firmware = Firmware::Qboot;
    let a = m.qemu_args();
    let at = a.iter().position(|x| x == "-bios").unwrap();
    assert_eq!(a[at + 1], "qboot.rom");
    assert_eq!(a[at - 1], "isa-debug-exit,iobase=0xf4,iosize=0x04");
}
