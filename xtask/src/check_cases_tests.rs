use std::collections::HashSet;

use super::*;

fn boots() -> Vec<Case> {
    suite()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Boot(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn names_are_unique_and_usable_as_file_names() {
    let mut seen = HashSet::new();
    for e in suite() {
        let n = e.name();
        assert!(seen.insert(n), "duplicate check name {n}");
        assert!(
            n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{n}"
        );
    }
    assert!(seen.contains("selftest") && seen.contains("soak") && seen.contains("iso-uefi"));
}

/// Every group has entries and no entry is named like a group, so `check GROUP` runs the
/// whole group and nothing else.
#[test]
fn every_group_present_and_not_an_entry_name() {
    let entries = suite();
    for g in GROUPS {
        let n = entries.iter().filter(|e| e.group() == Some(g)).count();
        assert!(n >= 3, "group {g} has {n} entries");
        assert!(
            entries.iter().all(|e| e.name() != g),
            "an entry is named {g}"
        );
    }
    for e in &entries {
        if let Some(g) = e.group() {
            assert!(GROUPS.contains(&g), "{}: unknown group {g}", e.name());
        }
    }
    let iso: Vec<&str> = entries
        .iter()
        .filter(|e| e.group() == Some("iso"))
        .map(Entry::name)
        .collect();
    assert_eq!(
        iso,
        [
            "iso-bios",
            "iso-uefi",
            "screen-uefi",
            "no-serial",
            "screen-no-serial"
        ]
    );
    let conf = entries
        .iter()
        .filter(|e| matches!(e, Entry::Conformance(..)))
        .count();
    assert_eq!(
        conf,
        crate::conformance::CASES.len(),
        "every conformance case is checked"
    );
}

/// Boot cases of a group boot as the group needs: the ISO ones from an ISO without
/// engines, the `machines` ones on QEMU 10.0 without engines (its proxy crashes under TCG).
#[test]
fn group_cases_boot_their_way() {
    for c in boots() {
        let mut r = ShapeRequest::default();
        if let Some(edit) = c.edit {
            edit(&mut r);
        }
        match c.group {
            Some("iso") => assert!(c.via != Via::Kernel && r.ptdma == 0, "{}", c.name),
            Some("machines") => assert!(c.qemu10 && r.ptdma == 0, "{}", c.name),
            _ => assert!(c.via == Via::Kernel && !c.qemu10 && c.serial, "{}", c.name),
        }
    }
}

/// Every case's machine is valid from the default options, and its model arguments parse
/// with the model's own parser.
#[test]
fn every_case_machine_and_model_arguments_are_valid() {
    let model = crate::model::ModelSetup::init();
    for c in boots() {
        let mut r = ShapeRequest::default();
        if let Some(edit) = c.edit {
            edit(&mut r);
        }
        let s = Shape::new(&r).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let args: Vec<String> = c
            .model
            .map(|m| m(&s))
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        model
            .common(&args, None, None)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert!(!c.expect.is_empty(), "{} checks nothing", c.name);
    }
}

#[test]
fn every_pattern_compiles() {
    let mut n = 0;
    let mut check = |e: &Expect| {
        if let Expect::Text(p) | Expect::NoText(p) = e {
            regex::Regex::new(p).unwrap_or_else(|err| panic!("/{p}/: {err}"));
            n += 1;
        }
    };
    for c in boots() {
        c.expect.iter().for_each(&mut check);
        for t in c.then {
            if let ThenKind::Check { also, .. } = t.what {
                also.iter().for_each(&mut check);
            }
        }
    }
    assert!(n > 30);
}

/// Cases that inject faults count descriptors after the kernel's first-use probe: one page
/// per memory node plus the completion marker, on each engine.
#[test]
fn fault_descriptors_follow_the_probe() {
    let s = Shape::new(&ShapeRequest::default()).unwrap();
    assert_eq!(probe_descriptors(&s), 6);
    let c = boots().into_iter().find(|c| c.name == "dma-error").unwrap();
    assert_eq!(c.model.unwrap()(&s), "--fault=error-at=11");
    let four = Shape::new(&ShapeRequest {
        cpus: Some(4),
        nodes: 4,
        mem_per_node_mib: 256,
        ptdma: 4,
        ..ShapeRequest::default()
    })
    .unwrap();
    assert_eq!(probe_descriptors(&four), 20);
}

/// The exits cases expect are the kernel statuses' exits (plus success).
#[test]
fn expected_exits_are_kernel_statuses() {
    let kernel: Vec<Exit> = crate::exit::KernelStatus::ALL
        .iter()
        .map(|&s| crate::exit::kernel_exit(s))
        .collect();
    for c in boots() {
        assert!(kernel.contains(&c.want), "{}: {:?}", c.name, c.want);
    }
}
