//! Host tests against `FakeConfigSpace`.

use crate::testing::{FakeBar, FakeConfigSpace};
use crate::*;

fn addr(bus: u8, dev: u8, func: u8) -> PciAddress {
    PciAddress::new(0, bus, dev, func)
}

/// Bus 0: host bridge 00:00.0, multi-function 00:02.{0,2}, PTDMA 00:03.0 (BAR2 mem32 1 MiB),
/// bridge 00:04.0 -> bus 5, device 05:00.0 behind it with a 64-bit prefetchable BAR and an I/O BAR.
fn topology() -> FakeConfigSpace {
    let cfg = FakeConfigSpace::new();
    cfg.add_function(addr(0, 0, 0), 0x1022, 0x1480, (0x06, 0, 0, 0), 0);
    cfg.add_function(addr(0, 2, 0), 0x1022, 0x1482, (0x06, 0, 0, 0), 0x80);
    cfg.add_function(addr(0, 2, 2), 0x1022, 0x1498, (0x10, 0x80, 0, 0), 0);
    cfg.add_function(addr(0, 3, 0), 0x1022, 0x1498, (0x10, 0x80, 0x00, 0x01), 0);
    cfg.set_bar(
        addr(0, 3, 0),
        2,
        FakeBar::Mem32 {
            address: 0xfea0_0000,
            size: 1 << 20,
            prefetchable: false,
        },
    );
    cfg.add_bridge(addr(0, 4, 0), 0x1b36, 0x0001, 5);
    cfg.add_function(addr(5, 0, 0), 0x1022, 0x149b, (0x10, 0x80, 0, 0), 0);
    cfg.set_bar(
        addr(5, 0, 0),
        0,
        FakeBar::Mem64 {
            address: 0x80_0000_0000,
            size: 16 << 30,
            prefetchable: true,
        },
    );
    cfg.set_bar(
        addr(5, 0, 0),
        4,
        FakeBar::Io {
            port: 0xc000,
            size: 32,
        },
    );
    cfg
}

#[test]
fn brute_force_finds_every_function_in_order() {
    let cfg = topology();
    let found = enumerate(&cfg, 0, 0..=255);
    let addrs: Vec<_> = found.iter().map(|f| f.address).collect();
    assert_eq!(
        addrs,
        [
            addr(0, 0, 0),
            addr(0, 2, 0),
            addr(0, 2, 2),
            addr(0, 3, 0),
            addr(0, 4, 0),
            addr(5, 0, 0)
        ]
    );
}

#[test]
fn recursive_scan_matches_brute_force() {
    let cfg = topology();
    assert_eq!(
        enumerate_recursive(&cfg, 0, &[0]),
        enumerate(&cfg, 0, 0..=255)
    );
}

#[test]
fn functions_of_single_function_device_are_not_probed() {
    let cfg = topology();
    // A stray function 1 on a device whose function 0 does not set the multi-function bit.
    cfg.add_function(addr(0, 3, 1), 0x1234, 0x5678, (0xff, 0, 0, 0), 0);
    let found = enumerate(&cfg, 0, 0..=0);
    assert!(found.iter().all(|f| f.address != addr(0, 3, 1)));
}

#[test]
fn absent_device_is_skipped() {
    let cfg = topology();
    assert!(enumerate(&cfg, 0, 1..=4).is_empty());
    assert!(enumerate::probe_function(&cfg, addr(0, 1, 0)).is_none());
}

#[test]
fn ids_class_and_bridge_are_decoded() {
    let cfg = topology();
    let found = enumerate(&cfg, 0, 0..=255);
    let pt = find(&found, 0x1022, 0x1498).unwrap();
    assert_eq!(pt.address, addr(0, 2, 2));
    let f = found.iter().find(|f| f.address == addr(0, 3, 0)).unwrap();
    assert_eq!(
        (f.class, f.subclass, f.prog_if, f.revision),
        (0x10, 0x80, 0x00, 0x01)
    );
    assert_eq!(f.kind(), HeaderKind::Endpoint);
    let bridge = found.iter().find(|f| f.address == addr(0, 4, 0)).unwrap();
    assert_eq!(bridge.kind(), HeaderKind::PciBridge);
    assert_eq!(bridge.secondary_bus, Some(5));
}

#[test]
fn bars_are_decoded_and_sized() {
    let cfg = topology();
    let found = enumerate(&cfg, 0, 0..=255);
    let pt = found.iter().find(|f| f.address == addr(0, 3, 0)).unwrap();
    assert_eq!(
        pt.bar(2),
        Some(BarInfo {
            index: 2,
            kind: BarKind::Mem32,
            prefetchable: false,
            address: 0xfea0_0000,
            size: 1 << 20
        })
    );
    assert_eq!(pt.bars.iter().flatten().count(), 1);
    let ae4 = found.iter().find(|f| f.address == addr(5, 0, 0)).unwrap();
    let bar0 = ae4.bar(0).unwrap();
    assert_eq!(bar0.kind, BarKind::Mem64);
    assert!(bar0.prefetchable);
    assert_eq!((bar0.address, bar0.size), (0x80_0000_0000, 16 << 30));
    assert_eq!(ae4.bar(1), None, "upper half of a 64-bit BAR");
    let io = ae4.bar(4).unwrap();
    assert_eq!((io.kind, io.address, io.size), (BarKind::Io, 0xc000, 32));
}

#[test]
fn bar_sizing_restores_registers_and_disables_decode() {
    let cfg = topology();
    let a = addr(5, 0, 0);
    enable(
        &cfg,
        a,
        Command {
            bus_master: true,
            memory: true,
            io: true,
        },
    );
    let before: Vec<u32> = (0..8).map(|i| cfg.peek(a, 4 * i)).collect();
    let f = enumerate::probe_function(&cfg, a).unwrap();
    let after: Vec<u32> = (0..8).map(|i| cfg.peek(a, 4 * i)).collect();
    assert_eq!(before, after);
    assert_eq!(cfg.decode_violations(), 0);
    assert_eq!(f.bar(0).unwrap().size, 16 << 30);
    // Sizing did write all-ones (and then the originals) to the BARs.
    let w = cfg.writes();
    assert!(w.iter().any(|w| w.offset == 0x10 && w.value == u32::MAX));
    assert_eq!(w.last().unwrap().offset, 0x04, "COMMAND restored last");
    assert_eq!(cfg.peek(a, 0x04) & 0x7, 0x7);
}

#[test]
fn enable_sets_only_requested_bits() {
    let cfg = topology();
    let a = addr(0, 3, 0);
    let new = enable(
        &cfg,
        a,
        Command {
            bus_master: true,
            memory: true,
            io: false,
        },
    );
    assert_eq!(new, 0b110);
    assert_eq!(cfg.peek(a, 0x04), 0b110);
    let writes = cfg.writes().len();
    enable(
        &cfg,
        a,
        Command {
            bus_master: true,
            ..Default::default()
        },
    );
    assert_eq!(cfg.writes().len(), writes, "no write when nothing changes");
}

#[test]
fn lspci_lines() {
    let cfg = topology();
    let found = enumerate(&cfg, 0, 0..=255);
    let line = |a| lspci_line(found.iter().find(|f| f.address == a).unwrap()).to_string();
    assert_eq!(
        line(addr(0, 3, 0)),
        "00:03.0 1022:1498 class 10.80.00 BAR2 mem32 0xfea00000 [size 1M]"
    );
    assert_eq!(
        line(addr(5, 0, 0)),
        "05:00.0 1022:149b class 10.80.00 BAR0 mem64 pref 0x8000000000 [size 16G] BAR4 io 0xc000 [size 32]"
    );
    let seg = PciFunction {
        address: PciAddress::new(1, 0, 0, 0),
        ..found[0].clone()
    };
    assert!(lspci_line(&seg)
        .to_string()
        .starts_with("0001:00:00.0 1022:1480"));
}

#[test]
fn sizing_only_the_driven_devices_writes_nothing_else() {
    let cfg = topology();
    let ptdma = [(0x1022, 0x1498), (0x1022, 0x149b)];
    let found = enumerate_with(&cfg, 0, 0..=255, BarSizing::Only(&ptdma));
    assert_eq!(found, {
        let all = enumerate(&topology(), 0, 0..=255);
        // same functions, same BAR addresses; sizes only where sizing was allowed
        all.into_iter()
            .map(|mut f| {
                if !ptdma.contains(&(f.vendor, f.device)) {
                    f.bars.iter_mut().flatten().for_each(|b| b.size = 0);
                }
                f
            })
            .collect::<Vec<_>>()
    });
    let w = cfg.writes();
    assert!(!w.is_empty(), "the PTDMA functions were sized");
    for write in &w {
        let f = found.iter().find(|f| f.address == write.address).unwrap();
        assert!(
            ptdma.contains(&(f.vendor, f.device)),
            "wrote {:#x} to {:?} ({:04x}:{:04x}), a device the kernel does not drive",
            write.value,
            write.address,
            f.vendor,
            f.device
        );
    }
    assert_eq!(found[3].bar(2).unwrap().size, 1 << 20);
}

#[test]
fn read_only_bars_decode_kind_address_and_64_bit_pairs() {
    let cfg = topology();
    let a = addr(5, 0, 0);
    let bars = bar::read_bars(&cfg, a, 6);
    assert!(cfg.writes().is_empty());
    let b0 = bars[0].unwrap();
    assert_eq!(
        (b0.kind, b0.address, b0.prefetchable, b0.size),
        (BarKind::Mem64, 0x80_0000_0000, true, 0)
    );
    assert_eq!(bars[1], None, "upper half of the 64-bit BAR");
    assert_eq!(
        bars[4].map(|b| (b.kind, b.address)),
        Some((BarKind::Io, 0xc000))
    );
    let f = enumerate::probe_function_with(&cfg, a, BarSizing::Only(&[])).unwrap();
    assert_eq!(
        lspci_line(&f).to_string(),
        "05:00.0 1022:149b class 10.80.00 BAR0 mem64 pref 0x8000000000 BAR4 io 0xc000"
    );
}

#[test]
fn sizing_by_class_code_sizes_only_that_class() {
    let cfg = topology();
    let a = addr(5, 0, 0);
    // 05:00.0 is class 10.80.00: sized by its class code alone, not by a neighbour class.
    let f = enumerate::probe_function_with(&cfg, a, BarSizing::OnlyIdsOrClasses(&[], &[0x10_8000]))
        .unwrap();
    assert_ne!(f.bar(0).unwrap().size, 0, "sized by class");
    assert!(!cfg.writes().is_empty());
    let cfg = topology();
    let g = enumerate::probe_function_with(&cfg, a, BarSizing::OnlyIdsOrClasses(&[], &[0x12_0100]))
        .unwrap();
    assert_eq!(g.bar(0).unwrap().size, 0, "another class: read only");
    assert!(cfg.writes().is_empty());
}
