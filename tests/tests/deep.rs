//! Deep values never overflow the stack: a file holding a million-level list, read on
//! an ordinary thread through every API, gives values or errors; saving deep values
//! gives the file or an error. The reads and saves run in child processes (a stack
//! overflow aborts the whole process), on the test harness's threads (2 MiB of stack,
//! less than a main thread's 8 MiB).

use std::process::Command;
use strata::{Archive, Error, OpenOptions, Persist, SaveOptions};

/// A linked list: one level of nesting per node.
#[derive(Persist, Debug, PartialEq)]
pub struct Node {
    v: u32,
    next: Option<Box<Node>>,
}

/// An expression tree: one level per operator.
#[derive(Persist, Debug, PartialEq)]
pub enum Expr {
    Lit(i64),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
}

/// A tree with children in a vector.
#[derive(Persist, Debug, PartialEq)]
pub struct Tree {
    label: String,
    children: Vec<Tree>,
}

#[derive(Persist)]
struct Deep {
    #[strata(lazy)]
    list: Node,
    #[strata(lazy)]
    expr: Expr,
    tag: u32,
}

fn list(n: u32) -> Node {
    let mut node = Node { v: 0, next: None };
    for i in 1..n {
        node = Node { v: i, next: Some(Box::new(node)) };
    }
    node
}

fn negations(n: u32) -> Expr {
    let mut e = Expr::Lit(1);
    for _ in 1..n {
        e = Expr::Neg(Box::new(e));
    }
    e
}

fn tree(depth: u32) -> Tree {
    let mut t = Tree { label: "leaf".into(), children: Vec::new() };
    for d in 1..depth {
        t = Tree {
            label: format!("level {d}"),
            children: vec![t, Tree { label: "side".into(), children: Vec::new() }],
        };
    }
    t
}

/// Drops a list without recursion (the default drop of a deep list recurses).
fn drop_list(mut n: Node) {
    while let Some(next) = n.next.take() {
        n = *next;
    }
}

fn drop_expr(mut e: Expr) {
    loop {
        e = match e {
            Expr::Neg(inner) => *inner,
            Expr::Add(a, b) => {
                drop_expr(*b);
                *a
            }
            Expr::Lit(_) => return,
        };
    }
}

fn drop_tree(t: Tree) {
    let mut stack = vec![t];
    while let Some(mut t) = stack.pop() {
        stack.append(&mut t.children);
    }
}

/// Compares two trees without recursion (the derived `==` recurses once per level, and
/// the test runs on the main thread, whose stack is whatever `ulimit -s` gives).
fn same_tree(a: &Tree, b: &Tree) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        if a.label != b.label || a.children.len() != b.children.len() {
            return false;
        }
        stack.extend(a.children.iter().zip(&b.children));
    }
    true
}

fn list_depth(n: &Node) -> u32 {
    let (mut depth, mut at) = (1, n);
    while let Some(next) = &at.next {
        depth += 1;
        at = next;
    }
    depth
}

/// Runs `test` of this binary alone in a child process with `var` set, and returns its
/// standard output (checking that it exited normally, not killed by a signal or an
/// abort).
fn run_child(test: &str, var: &str, value: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child did not exit normally ({:?}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What one read gave: `ok` or the error.
fn outcome<T>(what: &str, r: strata::Result<T>, keep: impl FnOnce(T)) -> String {
    match r {
        Ok(v) => {
            keep(v);
            format!("{what}=ok")
        }
        Err(e) => format!("{what}=err({e})"),
    }
}

#[test]
fn a_million_level_list_reads_as_values_or_errors_on_a_small_stack() {
    const CHILD: &str = "STRATA_DEEP_READ_CHILD";
    if let Ok(path) = std::env::var(CHILD) {
        let mut lines = Vec::new();
        for (name, options) in [("default", OpenOptions::new()), ("raised", OpenOptions::new().max_depth(2_000_000))] {
            let ar = Archive::open_with(&path, &options).unwrap();
            let root = ar.root::<Deep>().unwrap();
            lines.push(format!("{name}.tag={}", root.tag));
            lines.push(outcome(&format!("{name}.list.view"), root.list.view(), |v| assert_eq!(v.v, 999_999)));
            lines.push(outcome(&format!("{name}.list.load"), root.list.load(), |l| {
                assert_eq!(list_depth(&l), 1_000_000);
                drop_list(l);
            }));
            lines.push(outcome(&format!("{name}.expr.view"), root.expr.view(), |_| {}));
            lines.push(outcome(&format!("{name}.expr.load"), root.expr.load(), drop_expr));
            lines.push(outcome(&format!("{name}.load"), ar.load::<Deep>(), |d| {
                drop_list(d.list);
                drop_expr(d.expr);
            }));
            lines.push(outcome(&format!("{name}.verify"), ar.verify().map(|r| r.is_ok()), |ok| assert!(ok)));
        }
        println!("RESULT {}", lines.join(" "));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.strata");
    // Built and saved on a thread with a big stack, as a program that made such a
    // value would; the save's own stack grows as it needs (see the save test below).
    let saved = path.clone();
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let d = Deep { list: list(1_000_000), expr: negations(100_000), tag: 7 };
            SaveOptions::new().max_depth(2_000_000).save(&saved, &d).unwrap();
            drop_list(d.list);
            drop_expr(d.expr);
        })
        .unwrap()
        .join()
        .unwrap();
    let out =
        run_child("a_million_level_list_reads_as_values_or_errors_on_a_small_stack", CHILD, path.to_str().unwrap());
    let result = out.lines().find_map(|l| l.split_once("RESULT ")).map(|(_, r)| r.to_owned()).unwrap();
    println!("{result}");
    // With the default limit the list is refused, naming the field and the depth; the
    // 100,000-level expression is within it. With a raised limit, everything reads.
    assert!(result.contains("default.list.view=err(value nested too deep: Node.next at depth 100001"), "{result}");
    assert!(result.contains("default.list.load=err(value nested too deep: Node.next"), "{result}");
    assert!(result.contains("default.load=err(value nested too deep"), "{result}");
    for ok in ["default.expr.view", "default.expr.load", "default.verify", "raised.list.view", "raised.list.load"] {
        assert!(result.contains(&format!("{ok}=ok")), "{ok}: {result}");
    }
    for ok in ["raised.expr.load", "raised.load", "raised.verify", "default.tag=7"] {
        assert!(result.contains(ok), "{ok}: {result}");
    }
}

#[test]
fn saving_deep_values_gives_the_file_or_an_error_on_a_small_stack() {
    const CHILD: &str = "STRATA_DEEP_SAVE_CHILD";
    if std::env::var(CHILD).is_ok() {
        // Values this deep are built and dropped without recursion; only strata's own
        // work recurses.
        let l = list(300_000);
        let default = strata::to_bytes(&l).map(|b| b.len());
        let raised = SaveOptions::new().max_depth(400_000).to_bytes(&l);
        let back = raised.as_ref().map(|b| {
            let ar = Archive::from_bytes_with(b.clone(), &OpenOptions::new().max_depth(400_000)).unwrap();
            let loaded = ar.load::<Node>().unwrap();
            let depth = list_depth(&loaded);
            drop_list(loaded);
            depth
        });
        let t = tree(50_000);
        let tree_back = strata::to_bytes(&t).and_then(|b| Archive::from_bytes(b)?.load::<Tree>()).map(|back| {
            let same = same_tree(&back, &t);
            drop_tree(back);
            same
        });
        drop_list(l);
        drop_tree(t);
        println!(
            "RESULT default={} raised={} tree={}",
            default.map_or_else(|e| format!("err({e})"), |n| n.to_string()),
            back.map_or_else(|e| format!("err({e})"), |d| d.to_string()),
            tree_back.map_or_else(|e| format!("err({e})"), |s| s.to_string()),
        );
        return;
    }
    let out = run_child("saving_deep_values_gives_the_file_or_an_error_on_a_small_stack", CHILD, "1");
    let result = out.lines().find_map(|l| l.split_once("RESULT ")).map(|(_, r)| r.to_owned()).unwrap();
    println!("{result}");
    assert!(result.contains("default=err(value nested too deep: Node.next at depth 100001, past the limit of 100000)"));
    assert!(result.contains("raised=300000"), "{result}");
    assert!(result.contains("tree=true"), "{result}");
}

/// A derived `Debug` of a deep archived value, and comparisons, recurse too: they grow
/// the stack as validation does.
#[test]
fn debug_of_a_deep_view_does_not_overflow() {
    const CHILD: &str = "STRATA_DEEP_DEBUG_CHILD";
    if std::env::var(CHILD).is_ok() {
        let l = list(50_000);
        let bytes = strata::to_bytes(&l).unwrap();
        drop_list(l);
        let ar = Archive::from_bytes(bytes).unwrap();
        let text = format!("{:?}", ar.root::<Node>().unwrap());
        println!("RESULT len={}", text.len());
        return;
    }
    let out = run_child("debug_of_a_deep_view_does_not_overflow", CHILD, "1");
    assert!(out.contains("RESULT len="), "{out}");
}

/// Relative pointers that form a cycle, or point outside their value, inside one chunk:
/// rkyv's subtree ranges refuse them before any recursion follows them.
#[test]
fn pointer_chains_that_loop_are_errors() {
    let l = list(1_000);
    let bytes = strata::to_bytes(&l).unwrap();
    let ar = Archive::from_bytes(bytes.clone()).unwrap();
    let root = ar.footer().root;
    let (o, n) = (root.offset() as usize, root.stored_len() as usize);
    // Each archived node is 12 bytes: `v`, the Option tag (padded to 4) and the box's
    // relative pointer. Point every box at the root node itself, or at itself.
    for target in ["root", "self", "forward"] {
        let mut bad = bytes.clone();
        let chunk = &mut bad[o..o + n];
        let root_node = n - 12;
        for node in (0..n / 12).map(|k| k * 12) {
            let ptr_at = node + 8;
            if chunk[node + 4] != 1 {
                continue;
            }
            let to = match target {
                "root" => root_node as i64,
                "self" => node as i64,
                _ => (node + 12) as i64,
            };
            let rel = (to - ptr_at as i64) as i32;
            chunk[ptr_at..ptr_at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        let resealed = strata_tests::hostile::reseal_root(&bad);
        match Archive::from_bytes(resealed) {
            Ok(ar) => {
                let err = ar.root::<Node>().unwrap_err();
                assert!(matches!(err, Error::InvalidData { .. }), "{target}: {err}");
            }
            Err(e) => panic!("{target}: the resealed file should open: {e}"),
        }
    }
}
