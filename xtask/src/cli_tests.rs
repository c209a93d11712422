use super::*;

fn p(args: &[&str]) -> Result<Options, UsageError> {
    parse(args.iter().map(|s| s.to_string()))
}

fn err(args: &[&str]) -> String {
    p(args).unwrap_err().0
}

#[test]
fn defaults() {
    let o = p(&[]).unwrap();
    assert_eq!(o.command, Command::Run);
    assert_eq!(o.shape, ShapeRequest::default());
    assert_eq!(o.timeout_s, 600);
    assert_eq!(o.accel, Accel::Auto);
    assert!(o.kargs.is_empty() && o.model_args.is_empty());
}

/// Options and the command in any order; `--` ends both.
#[test]
fn options_commands_and_kernel_args() {
    let o = p(&[
        "--ptdma",
        "0",
        "bench",
        "1a,1b",
        "--ptdma-arg=--profile=seed",
        "--ptdma-arg",
        "--fault=error-at=5",
        "--cpus",
        "4",
        "--",
        "size=4k",
        "--x",
    ])
    .unwrap();
    assert_eq!(o.command, Command::Bench("1a,1b".into()));
    assert_eq!(o.shape.ptdma, 0);
    assert_eq!(o.shape.cpus, Some(4));
    assert_eq!(o.model_args, ["--profile=seed", "--fault=error-at=5"]);
    assert_eq!(o.kargs, ["size=4k", "--x"]);
    assert_eq!(
        p(&["bench", "--dry-run"]).unwrap().command,
        Command::Bench("efficiency".into())
    );
    assert_eq!(p(&["soak"]).unwrap().command, Command::Soak(3));
    assert_eq!(p(&["soak", "2"]).unwrap().command, Command::Soak(2));
    assert_eq!(
        p(&["get-qemu"]).unwrap().command,
        Command::GetQemu("10".into())
    );
    assert_eq!(p(&["test", "check"]).unwrap().command, Command::Check(None));
    assert_eq!(
        p(&["check", "soak"]).unwrap().command,
        Command::Check(Some("soak".into()))
    );
    assert_eq!(
        p(&["check", "iso"]).unwrap().command,
        Command::Check(Some("iso".into()))
    );
    assert_eq!(
        p(&["check", "ae4dma"]).unwrap().command,
        Command::Check(Some("ae4dma".into()))
    );
    assert!(p(&["check", "--list"]).unwrap().list);
    let o = p(&["--uefi", "--debug", "--dry-run", "--timeout", "30", "test"]).unwrap();
    assert!(o.iso && o.uefi && o.debug && o.dry_run);
    assert_eq!(o.timeout_s, 30);
    assert_eq!(
        p(&["--cpus", "2", "--cpus", "3"]).unwrap().shape.cpus,
        Some(3)
    );
}

#[test]
fn help_anywhere() {
    for a in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["--cpus", "4", "help"],
        &["test", "--help"],
    ] {
        assert_eq!(p(a).unwrap().command, Command::Help, "{a:?}");
    }
    assert!(HELP.starts_with("Usage: ./run-qemu.sh [options] [command] [-- kernel-cmdline...]"));
    assert!(HELP.ends_with("124 timeout.\n"));
}

/// The bash runner's messages for bad values (all exit 2).
#[test]
fn bad_values_with_the_runner_s_messages() {
    assert_eq!(err(&["--cpus", "0"]), "--cpus takes 1..512, got '0'");
    assert_eq!(err(&["--cpus", "513"]), "--cpus takes 1..512, got '513'");
    assert_eq!(err(&["--cpus", "x"]), "--cpus takes 1..512, got 'x'");
    assert_eq!(err(&["--cpus", ""]), "option --cpus needs a value");
    assert_eq!(err(&["--cpus"]), "option --cpus needs a value");
    assert_eq!(err(&["--dies", "65"]), "--dies takes 1..64, got '65'");
    assert_eq!(
        err(&["--nodes", "9"]),
        "--nodes takes 1..8 (the proxy maps at most 8 RAM sections), got '9'"
    );
    assert_eq!(
        err(&["--numa-dist", "ring"]),
        "--numa-dist takes none|line, got 'ring'"
    );
    assert_eq!(
        err(&["--mem-per-node", "63"]),
        "--mem-per-node takes MiB >= 64, got '63'"
    );
    assert_eq!(err(&["--ptdma", "17"]), "--ptdma takes 0..16, got '17'");
    assert_eq!(
        err(&["--accel", "hvf"]),
        "--accel takes auto|tcg|kvm, got 'hvf'"
    );
    assert_eq!(
        err(&["--timeout", "0"]),
        "--timeout takes seconds >= 1, got '0'"
    );
    assert_eq!(
        err(&["--host-nodes", "1,a"]),
        "--host-nodes takes host node numbers A,B,..., got '1,a'"
    );
    assert_eq!(
        err(&["soak", "0"]),
        "soak takes whole minutes >= 1, got '0'"
    );
    assert_eq!(err(&["--bogus"]), "unknown option '--bogus'");
    assert_eq!(
        err(&["frobnicate"]),
        "unknown command 'frobnicate' (commands: run, test, bench, soak, faults, iso, conformance, check, get-qemu, help)"
    );
}
/// `--sdxi N`: N engine functions of the model's SDXI kind, instead of PTDMA.
#[test]
fn sdxi_engines_replace_ptdma_ones() {
    let o = p(&["--ptdma", "0", "--sdxi", "2", "bench", "1b"]).unwrap();
    assert_eq!(o.shape.ptdma, 2, "the launcher serves 2 functions");
    assert_eq!(o.model_args, ["--kind=sdxi"]);
    let o = p(&["--sdxi", "1", "--ptdma-arg=--profile=seed", "test"]).unwrap();
    assert_eq!(o.shape.ptdma, 1);
    assert_eq!(o.model_args, ["--kind=sdxi", "--profile=seed"]);
    let o = p(&["--sdxi", "0", "test"]).unwrap();
    assert_eq!(
        (o.shape.ptdma, o.model_args.len()),
        (2, 0),
        "--sdxi 0: PTDMA as usual"
    );
    // Both kinds: the given PTDMA functions first, then the SDXI ones.
    let o = p(&["--ptdma", "1", "--sdxi", "2", "test"]).unwrap();
    assert_eq!(o.shape.ptdma, 3);
    assert_eq!(o.model_args, ["--kind=ptdma,sdxi,sdxi"]);
    assert!(err(&["--ptdma", "10", "--sdxi", "8"]).contains("at most 16 engine functions"));
    assert!(err(&["--sdxi", "2", "--ptdma-arg=--kind=ae4dma"]).contains("drop --ptdma-arg=--kind"));
    assert_eq!(err(&["--sdxi", "17"]), "--sdxi takes 0..16, got '17'");
}
