# Datadog's PrivateLink endpoint service ids and private DNS names per site region; a test holds
# them equal to the site table in crates/autosub-core/src/datadog.rs.
locals {
  sites = {
    "us-east-1"      = "datadoghq.com"
    "ap-northeast-1" = "ap1.datadoghq.com"
    "ap-southeast-2" = "ap2.datadoghq.com"
  }

  endpoint_services = {
    "us-east-1" = {
      logs_agent_intake    = "vpce-svc-025a56b9187ac1f63"
      logs_user_intake     = "vpce-svc-0e36256cb6172439d"
      api                  = "vpce-svc-064ea718f8d0ead77"
      metrics              = "vpce-svc-09a8006e245d1e7b8"
      containers           = "vpce-svc-0ad5fb9e71f85fe99"
      process              = "vpce-svc-0ed1f789ac6b0bde1"
      profiling            = "vpce-svc-022ae36a7b2472029"
      traces               = "vpce-svc-0355bb1880dfa09c2"
      database_monitoring  = "vpce-svc-0ce70d55ec4af8501"
      remote_configuration = "vpce-svc-01f21309e507e3b1d"
    }
    "ap-northeast-1" = {
      logs_agent_intake    = "vpce-svc-03e139d1f2766685b"
      logs_user_intake     = "vpce-svc-08799aabff1cfd8a3"
      api                  = "vpce-svc-008cd79a7a09e0a1e"
      metrics              = "vpce-svc-002d904d5e69340ad"
      containers           = "vpce-svc-03ffd8d552f0d957d"
      process              = "vpce-svc-0e86b29a0dc2c8a26"
      profiling            = "vpce-svc-0d598057ecde10596"
      traces               = "vpce-svc-0a5d94b2e8f6e70fc"
      database_monitoring  = "vpce-svc-0cc53180ae06bb977"
      remote_configuration = "vpce-svc-00e15ab206f23b98c"
    }
    "ap-southeast-2" = {
      logs_agent_intake    = "vpce-svc-06460db30a7cfdace"
      logs_user_intake     = "vpce-svc-06460db30a7cfdace"
      api                  = "vpce-svc-06ec78b291ce8020a"
      metrics              = "vpce-svc-06a30d6a016b746ff"
      containers           = "vpce-svc-031da3ffac78ef902"
      process              = "vpce-svc-0c26ca335d93a68b5"
      profiling            = "vpce-svc-0d936da0e6a30d3cd"
      traces               = "vpce-svc-0f3e01f4180b2ae09"
      database_monitoring  = "vpce-svc-094469ee7a178f448"
      remote_configuration = "vpce-svc-01f8f80f4cb97bd10"
    }
  }

  private_dns_names = {
    "us-east-1" = {
      logs_agent_intake    = "agent-http-intake.logs.datadoghq.com"
      logs_user_intake     = "http-intake.logs.datadoghq.com"
      api                  = "api.datadoghq.com"
      metrics              = "metrics.agent.datadoghq.com"
      containers           = "orchestrator.datadoghq.com"
      process              = "process.datadoghq.com"
      profiling            = "intake.profile.datadoghq.com"
      traces               = "trace.agent.datadoghq.com"
      database_monitoring  = "dbm-metrics-intake.datadoghq.com"
      remote_configuration = "config.datadoghq.com"
    }
    "ap-northeast-1" = {
      logs_agent_intake    = "agent-http-intake.logs.ap1.datadoghq.com"
      logs_user_intake     = "http-intake.logs.ap1.datadoghq.com"
      api                  = "api.ap1.datadoghq.com"
      metrics              = "metrics.agent.ap1.datadoghq.com"
      containers           = "orchestrator.ap1.datadoghq.com"
      process              = "process.ap1.datadoghq.com"
      profiling            = "intake.profile.ap1.datadoghq.com"
      traces               = "trace.agent.ap1.datadoghq.com"
      database_monitoring  = "dbm-metrics-intake.ap1.datadoghq.com"
      remote_configuration = "config.ap1.datadoghq.com"
    }
    "ap-southeast-2" = {
      logs_agent_intake    = "gold.intake.ap2.datadoghq.com"
      logs_user_intake     = "gold.intake.ap2.datadoghq.com"
      api                  = "orchid.intake.ap2.datadoghq.com"
      metrics              = "metrics.agent.ap2.datadoghq.com"
      containers           = "orchestrator.ap2.datadoghq.com"
      process              = "process.ap2.datadoghq.com"
      profiling            = "intake.profile.ap2.datadoghq.com"
      traces               = "trace.agent.ap2.datadoghq.com"
      database_monitoring  = "dbm-metrics-intake.ap2.datadoghq.com"
      remote_configuration = "config.ap2.datadoghq.com"
    }
  }
}
