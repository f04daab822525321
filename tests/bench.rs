//! `tollgate bench` end to end, short: four servers, one rate, a table.

use std::process::Command;

#[test]
fn bench_subcommand_prints_and_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .current_dir(dir.path())
        .args([
            "bench",
            "--seconds",
            "1",
            "--rates",
            "200",
            "--connections",
            "8",
        ])
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run tollgate bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stdout.contains("| metric | FULL | NO-SQLITE | PASSTHROUGH | BARE |"),
        "{stdout}"
    );
    assert!(stdout.contains("max requests/s (closed loop, 8 connections)"));
    assert!(stdout.contains("p99 ms at 200/s (open loop)"));
    assert!(stdout.contains("FULL/BARE max requests/s:"));
    for file in [dir.path().join("reports/bench.md"), out.join("bench.md")] {
        let written = std::fs::read_to_string(&file).unwrap();
        assert_eq!(written.trim(), stdout.trim(), "{}", file.display());
    }
}
