//! Kubeconfig files pointing at a sandbox (plain HTTP on loopback, no credentials).

/// The name used for the cluster, user and context entries.
pub const CONTEXT: &str = "kube-sandbox";

/// A kubeconfig YAML document for `server_url` with `namespace` as the context's default namespace.
pub fn render(server_url: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server_url}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n    namespace: {namespace}\ncurrent-context: {CONTEXT}\nusers:\n- name: {CONTEXT}\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// A kubeconfig whose requests act as `user` (`as:`, sent as `Impersonate-User`). kubectl sends no bearer token
/// over plain HTTP (clientcmd reads credentials for TLS servers only), but it does send impersonation headers.
pub fn render_as(server_url: &str, namespace: &str, user: &str) -> String {
    render(server_url, namespace).replace("  user: {}\n", &format!("  user:\n    as: {user:?}\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_as_a_kubeconfig() {
        let text = super::render("http://127.0.0.1:6443", "default");
        let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some(super::CONTEXT));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("http://127.0.0.1:6443"));
    }
}
