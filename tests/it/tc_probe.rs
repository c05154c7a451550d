use testcontainers::{runners::{AsyncBuilder, AsyncRunner}, GenericBuildableImage, GenericImage};
#[tokio::test]
async fn tc_probe() {
    let b = GenericBuildableImage::new("tc-probe", "x").with_dockerfile_string("FROM scratch\nCOPY a /a\n").with_data(b"hi".to_vec(), "a").build_image().await;
    eprintln!("build: {:?}", b.as_ref().err());
    let c = GenericImage::new("test-regimg", "tmp").start().await;
    eprintln!("start: {:?}", c.as_ref().err());
}
