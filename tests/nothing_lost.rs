//! Nothing lost (issue 17, item 9): a start whose image is missing on the
//! ship pulls it before it touches the stopped container; when the pull
//! fails, the container is still there, the same one, for the next start.

use crate::engine_support::{
    container_id, exists, head, instance, local, maestro, service, IDLE, IMAGE,
};
use crate::testbed::{docker, testbed, Cleanup};
use crate::util::Dir;

#[test]
fn a_start_whose_pull_fails_keeps_the_stopped_container() {
    let bed = testbed();
    let name = "nl-keep-1";
    let _cleanup = Cleanup::new(&[name]);
    let host = local();
    // An image only this test names, from a registry nothing listens on: a
    // pull of it fails at once.
    let image = "127.0.0.1:9/maestro-test/nothing-lost:1";
    docker(&host, &["tag", IMAGE, image]);
    let dir = Dir::new();
    let mut text = head("nl", &[("local", bed.local_ship())]);
    text.push_str(&service(
        "keep",
        image,
        &[],
        &[instance(name, "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    maestro(&file, &["stop", name]).assert_success();
    let before = container_id(&host, name);

    // The image goes (the container keeps its layers by id), so the next
    // start must pull, and the pull fails.
    docker(&host, &["rmi", image]);
    let out = maestro(&file, &["start"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    assert!(
        out.stderr().contains("could not pull image") && out.stderr().contains(image),
        "{}",
        out.report()
    );
    assert!(
        exists(&host, name),
        "the container was removed before the pull:\n{}",
        out.report()
    );
    assert_eq!(
        container_id(&host, name),
        before,
        "the container was replaced"
    );
}
