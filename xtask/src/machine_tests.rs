//! QEMU arguments of the boots besides the plain `-kernel` one (shape_tests.rs has those):
//! each expected line is the one the former bash runner printed for the same options (`--dry-run`),
//! with the repository's paths made relative.

use super::*;
use crate::shape::{NumaDist, ShapeRequest};

const BASE: &str = "qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max";
const DEBUG_EXIT: &str = "-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04";
const TWO_NODES: &str = "-object memory-backend-memfd,id=m0,size=512M,share=on -numa node,nodeid=0,cpus=0-0,memdev=m0 -object memory-backend-memfd,id=m1,size=512M,share=on -numa node,nodeid=1,cpus=1-1,memdev=m1";

fn shape(r: ShapeRequest) -> Shape {
    Shape::new(&r).unwrap()
}

fn machine(s: Shape, medium: Medium) -> Machine {
    Machine {
        medium,
        ..Machine::kernel(
            "qemu-system-x86_64".into(),
            "tcg,thread=multi".into(),
            s,
            Firmware::SeaBios,
            PathBuf::new(),
            String::new(),
        )
    }
}

fn ovmf() -> Medium {
    Medium::Iso {
        iso: "out/run-uefi.iso".into(),
        ovmf: Some(Ovmf {
            code: "/usr/share/OVMF/OVMF_CODE.fd".into(),
            vars: "out/ovmf-vars.fd".into(),
        }),
    }
}

/// `--uefi --ptdma 0 -- foo=1 bar=2`: VGA on, the run's ISO as CD-ROM, OVMF as pflash.
#[test]
fn uefi_iso_boot() {
    let m = machine(
        shape(ShapeRequest {
            ptdma: 0,
            ..Default::default()
        }),
        ovmf(),
    );
    assert_eq!(
        m.qemu_args().join(" "),
        format!("{BASE} -smp 2 -m 1024M -display none -vga std -nic none -monitor none -serial stdio {DEBUG_EXIT} {TWO_NODES} -cdrom out/run-uefi.iso -boot d -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd -drive if=pflash,format=raw,file=out/ovmf-vars.fd")
    );
}

/// `--iso --ptdma 0 --cpus 4 --nodes 4 --mem-per-node 256 --numa-dist line test`: the SLIT
/// comes before the ISO, SeaBIOS has no drives.
#[test]
fn bios_iso_boot_with_a_slit() {
    let s = shape(ShapeRequest {
        cpus: Some(4),
        nodes: 4,
        mem_per_node_mib: 256,
        numa_dist: NumaDist::Line,
        ptdma: 0,
        ..Default::default()
    });
    let m = machine(
        s,
        Medium::Iso {
            iso: "out/run-bios.iso".into(),
            ovmf: None,
        },
    );
    let a = m.qemu_args().join(" ");
    assert!(a.contains("-vga std"));
    assert!(a.ends_with("-numa node,nodeid=3,cpus=3-3,memdev=m3 -numa dist,src=0,dst=1,val=20 -numa dist,src=0,dst=2,val=30 -numa dist,src=0,dst=3,val=40 -numa dist,src=1,dst=2,val=20 -numa dist,src=1,dst=3,val=30 -numa dist,src=2,dst=3,val=20 -cdrom out/run-bios.iso -boot d"), "{a}");
    assert!(!a.contains("-kernel") && !a.contains("-append"));
}

/// The screen checks: no serial port, and a QMP socket last.
#[test]
fn no_serial_port_and_a_qmp_socket() {
    let mut m = machine(
        shape(ShapeRequest {
            ptdma: 0,
            ..Default::default()
        }),
        ovmf(),
    );
    m.serial = false;
    m.qmp = Some("out/qmp-screen.sock".into());
    let a = m.qemu_args();
    let at = a.iter().position(|x| x == "-serial").unwrap();
    assert_eq!(a[at + 1], "none");
    assert_eq!(
        a[a.len() - 2..],
        ["-qmp", "unix:out/qmp-screen.sock,server=on,wait=off"]
    );
}

/// `--accel kvm --ptdma 0 --cpus 4 --host-nodes 2,3 --vfio 0000:c1:00.2 test`, the plan from
/// tools/kvm-guest: KVM and the host CPU model, each node's memory bound to its host node,
/// the function assigned, QMP for the pinning, then the kernel.
#[test]
fn kvm_guest_bound_to_host_nodes() {
    let plan: Vec<String> = [
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-object",
        "memory-backend-memfd,id=m0,size=512M,share=on,host-nodes=2,policy=bind,prealloc=off",
        "-object",
        "memory-backend-memfd,id=m1,size=512M,share=on,host-nodes=3,policy=bind,prealloc=off",
        "-device",
        "vfio-pci,host=0000:c1:00.2",
    ]
    .map(String::from)
    .into();
    let kvm = crate::kvm::binding_of(&plan, "out/qmp.sock".into()).unwrap();
    let s = shape(ShapeRequest {
        cpus: Some(4),
        ptdma: 0,
        ..Default::default()
    });
    let cmdline = "test=all expect-cpus=4 expect-nodes=2 expect-node-mib=512 expect-ptdma=0 host-binding=kvm:0-2/1-3:1";
    let mut m = Machine::kernel(
        "qemu-system-x86_64".into(),
        "tcg,thread=multi".into(),
        s,
        Firmware::SeaBios,
        "target/release/kernel".into(),
        cmdline.into(),
    );
    m.kvm = Some(kvm);
    assert_eq!(
        m.qemu_args().join(" "),
        format!("qemu-system-x86_64 -machine q35 -accel kvm -cpu host -smp 4 -m 1024M -display none -vga none -nic none -monitor none -serial stdio {DEBUG_EXIT} -object memory-backend-memfd,id=m0,size=512M,share=on,host-nodes=2,policy=bind,prealloc=off -numa node,nodeid=0,cpus=0-1,memdev=m0 -object memory-backend-memfd,id=m1,size=512M,share=on,host-nodes=3,policy=bind,prealloc=off -numa node,nodeid=1,cpus=2-3,memdev=m1 -device vfio-pci,host=0000:c1:00.2 -qmp unix:out/qmp.sock,server=on,wait=off -kernel target/release/kernel -append {cmdline}")
    );
    let bad = crate::kvm::binding_of(&["-bogus".into(), "x".into()], "q".into());
    assert!(
        bad.is_err(),
        "an argument the runner cannot place is refused"
    );
}

/// Huge pages change only the backends tools/kvm-guest plans.
#[test]
fn kvm_guest_with_hugepages() {
    let plan: Vec<String> = [
        "-accel", "kvm", "-cpu", "host",
        "-object", "memory-backend-memfd,id=m0,size=512M,share=on,host-nodes=0,policy=bind,prealloc=off,hugetlb=on,hugetlbsize=2M",
        "-object", "memory-backend-memfd,id=m1,size=512M,share=on,host-nodes=0,policy=bind,prealloc=off,hugetlb=on,hugetlbsize=2M",
    ]
    .map(String::from)
    .into();
    let mut m = machine(
        shape(ShapeRequest {
            ptdma: 0,
            ..Default::default()
        }),
        ovmf(),
    );
    m.kvm = Some(crate::kvm::binding_of(&plan, "out/qmp.sock".into()).unwrap());
    let a = m.qemu_args().join(" ");
    assert_eq!(a.matches("hugetlb=on,hugetlbsize=2M -numa node").count(), 2);
    assert!(a.contains("-qmp unix:out/qmp.sock,server=on,wait=off -cdrom out/run-uefi.iso"));
}

/// The conformance Linux guest: bzImage, its command line, then the initramfs.
#[test]
fn conformance_linux_guest() {
    let c = crate::conformance::CASES[2];
    let mut s = shape(ShapeRequest::default());
    s.ptdma = c.engines;
    let m = machine(
        s,
        Medium::Kernel {
            kernel: "cache/bzImage".into(),
            cmdline: c.cmdline(),
            initrd: Some("out/conformance/initramfs.cpio.gz".into()),
        },
    );
    assert_eq!(
        m.qemu_args().join(" "),
        format!("{BASE} -smp 2 -m 1024M -display none -vga none -nic none -monitor none -serial stdio {DEBUG_EXIT} {TWO_NODES} -kernel cache/bzImage -append console=ttyS0 panic=-1 CONF_SIZES=4096 CONF_ITER=200 -initrd out/conformance/initramfs.cpio.gz")
    );
}

#[test]
fn via_from_the_options() {
    assert_eq!(Via::of(false, false), Via::Kernel);
    assert_eq!(Via::of(true, false), Via::Iso);
    assert_eq!(Via::of(true, true), Via::Uefi);
    assert_eq!(Via::of(false, true), Via::Uefi);
}
