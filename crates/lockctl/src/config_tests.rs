use super::*;

fn settings(text: &str) -> Result<Settings, ConfigError> {
    from_toml(text, "lockctl.toml", &Overrides::default())
}

#[test]
fn an_empty_file_means_tls_to_localhost_with_the_system_roots() {
    let s = settings("").unwrap();
    assert_eq!(s.broker.host, "localhost");
    assert_eq!(s.broker.port, 8883);
    assert_eq!(s.broker.transport, Transport::Tls);
    assert_eq!(s.broker.ca_file, None);
    assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    assert_eq!(s.name, None);
}

#[test]
fn every_key_of_the_documented_example_is_read() {
    let text = r#"
        name = "laptop"
        timeout = "12s"
        [broker]
        host = "mqtt.example.net"
        port = 8884
        transport = "tls"
        ca_file = "/etc/ca.pem"
        client_cert = "/c.pem"
        client_key = "/c.key"
        username = "me"
        password_file = "/pw"
        keepalive = "1m"
    "#;
    let s = settings(text).unwrap();
    assert_eq!(s.name.as_deref(), Some("laptop"));
    assert_eq!(s.timeout, Duration::from_secs(12));
    let b = s.broker;
    assert_eq!((b.host.as_str(), b.port), ("mqtt.example.net", 8884));
    assert_eq!(b.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(b.client_auth, Some(("/c.pem".into(), "/c.key".into())));
    assert_eq!(b.credentials, Some(("me".into(), Some("/pw".into()))));
    assert_eq!(b.keepalive, Duration::from_secs(60));
}

#[test]
fn plain_must_be_asked_for_and_defaults_to_port_1883() {
    let s = settings("[broker]\ntransport = \"plain\"\n").unwrap();
    assert_eq!(
        (s.broker.transport, s.broker.port),
        (Transport::Plain, 1883)
    );
}

#[test]
fn flags_and_environment_win_over_the_file() {
    let overrides = Overrides {
        host: Some("127.0.0.1".into()),
        port: Some(1999),
        transport: Some(Transport::Plain),
        timeout: Some(Duration::from_secs(3)),
        ..Overrides::default()
    };
    let text = "timeout = \"9s\"\n[broker]\nhost = \"far\"\nport = 1\n";
    let s = from_toml(text, "f", &overrides).unwrap();
    assert_eq!((s.broker.host.as_str(), s.broker.port), ("127.0.0.1", 1999));
    assert_eq!(s.broker.transport, Transport::Plain);
    assert_eq!(s.timeout, Duration::from_secs(3));
}

#[test]
fn errors_name_the_file_and_the_key() {
    let cases = [
        ("[broker]\nhots = \"x\"\n", "line 2", "hots"),
        ("[broker]\nport = 70000\n", "line 2", ""),
        ("[broker]\ntransport = \"udp\"\n", "line 2", "udp"),
        ("timeout = \"soon\"\n", "timeout", "soon"),
        (
            "[broker]\nclient_cert = \"/c\"\n",
            "broker.client_cert",
            "together",
        ),
        (
            "[broker]\npassword_file = \"/p\"\n",
            "broker.password_file",
            "username",
        ),
        (
            "[broker]\ntransport = \"plain\"\nca_file = \"/ca\"\n",
            "broker.transport",
            "tls",
        ),
        ("name = \"\"\n", "name", "1 to 32"),
    ];
    for (text, key, word) in cases {
        let err = settings(text).unwrap_err();
        assert_eq!(err.file, "lockctl.toml", "{text}");
        assert_eq!(err.key, key, "{text}: {err}");
        assert!(err.to_string().contains(word), "{text}: {err}");
    }
}

#[test]
fn a_missing_file_gives_the_defaults_and_a_bad_one_its_path() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        load(dir.path(), &Overrides::default()).unwrap().broker.port,
        8883
    );
    std::fs::write(dir.path().join(CONFIG_FILE), "[broker\n").unwrap();
    let err = load(dir.path(), &Overrides::default()).unwrap_err();
    assert!(err.file.ends_with(CONFIG_FILE), "{err}");
}

#[test]
fn the_config_dir_is_the_flag_then_xdg_then_home() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    };
    let both: &[(&str, &str)] = &[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")];
    let flag = Path::new("/flag");
    assert_eq!(config_dir(Some(flag), env(both)).unwrap(), flag);
    assert_eq!(
        config_dir(None, env(both)).unwrap(),
        Path::new("/x/lockctl")
    );
    let relative_xdg: &[(&str, &str)] = &[("XDG_CONFIG_HOME", "x"), ("HOME", "/h")];
    assert_eq!(
        config_dir(None, env(relative_xdg)).unwrap(),
        Path::new("/h/.config/lockctl")
    );
    assert!(config_dir(None, env(&[])).is_err());
}

#[test]
fn the_bridge_defaults_to_the_gateways_broker_and_reads_its_own() {
    let s = settings("").unwrap();
    assert_eq!(s.ha.topic, DEFAULT_HA_TOPIC);
    assert_eq!(s.ha.discovery_prefix, DEFAULT_DISCOVERY_PREFIX);
    assert_eq!(s.ha.command_grace, DEFAULT_COMMAND_GRACE);
    assert_eq!(s.ha.broker, None);
    assert!(!s.ha.share_gateway_broker);
    let shared = settings("[ha]\nshare_gateway_broker = true\n").unwrap();
    assert!(shared.ha.share_gateway_broker);
    let text = r#"
        [ha]
        topic = "home/locks"
        discovery_prefix = "ha"
        command_grace = "10s"
        [ha.broker]
        host = "ha.local"
        transport = "plain"
        username = "bridge"
        password_file = "/pw"
    "#;
    let s = settings(text).unwrap();
    assert_eq!(s.ha.topic, "home/locks");
    assert_eq!(s.ha.discovery_prefix, "ha");
    assert_eq!(s.ha.command_grace, Duration::from_secs(10));
    let b = s.ha.broker.unwrap();
    assert_eq!((b.host.as_str(), b.port), ("ha.local", 1883));
    assert_eq!(b.credentials, Some(("bridge".into(), Some("/pw".into()))));
}

#[test]
fn bad_bridge_settings_name_their_key() {
    for (text, key) in [
        ("[ha]\ntopic = \"a/#\"", "ha.topic"),
        ("[ha]\ntopic = \"/a\"", "ha.topic"),
        ("[ha]\ndiscovery_prefix = \"\"", "ha.discovery_prefix"),
        ("[ha]\ntopic = \"homeassistant/x\"", "ha.topic"),
        ("[ha]\ncommand_grace = \"soon\"", "ha.command_grace"),
        (
            "[ha.broker]\npassword_file = \"/pw\"",
            "ha.broker.password_file",
        ),
        ("[ha]\ncolour = \"red\"", "line 2"),
        (
            "[ha]\nshare_gateway_broker = true\n[ha.broker]\nhost = \"h\"",
            "ha.share_gateway_broker",
        ),
    ] {
        let e = settings(text).unwrap_err();
        assert_eq!(e.key, key, "{text}: {e}");
    }
}
