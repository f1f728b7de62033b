//! CloudTrail, read-only: the trails that apply to a region, whether each is logging, and which
//! write management events it records. Event-driven mode depends on them: EventBridge puts
//! "AWS API Call via CloudTrail" events on the default bus only when a trail with logging
//! enabled records them. `autosub doctor` reads them through [`TrailsApi`]; trail discovery
//! (`source_apis::CloudTrailApi`) shares the SDK reads below.

use async_trait::async_trait;
use autosub_core::Region;
use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;

use crate::error::AwsError;
use crate::sdk_error::aws_error;

/// A trail that applies to the region it was listed in: its own, a multi-region trail's
/// shadow, or an organization trail.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Trail {
    /// Its ARN, which names it in every region and account.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The region it was created in, where its status and selectors are read.
    pub home_region: Region,
    /// True when it applies to every region.
    pub multi_region: bool,
    /// True when it is an organization trail (created in the management account).
    pub organization: bool,
}

/// A condition of an advanced event selector's field: every operator given must hold (values
/// within one operator are alternatives). With no operator it admits every value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldCondition {
    /// The value is one of these.
    pub equals: Vec<String>,
    /// The value starts with one of these.
    pub starts_with: Vec<String>,
    /// The value ends with one of these.
    pub ends_with: Vec<String>,
    /// The value is none of these.
    pub not_equals: Vec<String>,
    /// The value starts with none of these.
    pub not_starts_with: Vec<String>,
    /// The value ends with none of these.
    pub not_ends_with: Vec<String>,
}

impl FieldCondition {
    /// True when `value` meets the condition.
    pub fn admits(&self, value: &str) -> bool {
        let any = |list: &[String], test: &dyn Fn(&str) -> bool| list.iter().any(|v| test(v));
        (self.equals.is_empty() || any(&self.equals, &|v| v == value))
            && (self.starts_with.is_empty() || any(&self.starts_with, &|v| value.starts_with(v)))
            && (self.ends_with.is_empty() || any(&self.ends_with, &|v| value.ends_with(v)))
            && !any(&self.not_equals, &|v| v == value)
            && !any(&self.not_starts_with, &|v| value.starts_with(v))
            && !any(&self.not_ends_with, &|v| value.ends_with(v))
    }
}

/// One field of an advanced event selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvancedField {
    /// The field (`eventCategory`, `readOnly`, `eventSource`, …).
    pub field: String,
    /// What it must be.
    pub condition: FieldCondition,
}

/// One basic event selector, as far as management events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicSelector {
    /// `ReadOnly`, `WriteOnly` or `All` (AWS's default when absent).
    pub read_write: Option<String>,
    /// Whether it includes management events (AWS's default when absent: true).
    pub include_management_events: Option<bool>,
    /// Event sources whose management events it leaves out.
    pub excluded_sources: Vec<String>,
}

/// Which write management events (the calls that create, change or delete) a trail records:
/// one event-source condition per selector that records them. A call is recorded when any of
/// them admits its event source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagementWrites {
    sources: Vec<FieldCondition>,
}

impl ManagementWrites {
    /// What basic event selectors record. A trail without selectors (basic or advanced) records
    /// every read and write management event: "By default, trails created without specific
    /// event selectors will be configured to log all read and write management events, and no
    /// data events" (CloudTrail API Reference, `EventSelector`).
    pub fn of_basic(selectors: &[BasicSelector]) -> Self {
        if selectors.is_empty() {
            return Self {
                sources: vec![FieldCondition::default()],
            };
        }
        let sources = selectors
            .iter()
            .filter(|s| s.include_management_events.unwrap_or(true))
            .filter(|s| matches!(s.read_write.as_deref(), None | Some("All" | "WriteOnly")))
            .map(|s| FieldCondition {
                not_equals: s.excluded_sources.clone(),
                ..FieldCondition::default()
            })
            .collect();
        Self { sources }
    }

    /// What advanced event selectors record: a selector whose `eventCategory` admits
    /// `Management` and whose `readOnly` (when given) admits `false`, for the event sources its
    /// `eventSource` admits. Other fields are not read (for management events a trail
    /// selects on these three).
    pub fn of_advanced(selectors: &[Vec<AdvancedField>]) -> Self {
        let field = |fields: &[AdvancedField], name: &str| -> Option<FieldCondition> {
            fields
                .iter()
                .find(|f| f.field == name)
                .map(|f| f.condition.clone())
        };
        let sources = selectors
            .iter()
            .filter(|fields| {
                field(fields, "eventCategory").is_some_and(|c| c.admits("Management"))
                    && field(fields, "readOnly").is_none_or(|c| c.admits("false"))
            })
            .map(|fields| field(fields, "eventSource").unwrap_or_default())
            .collect();
        Self { sources }
    }

    /// True when the write management events of `event_source` (`lambda.amazonaws.com`) are
    /// recorded.
    pub fn records(&self, event_source: &str) -> bool {
        self.sources.iter().any(|c| c.admits(event_source))
    }

    /// True when some write management events are recorded.
    pub fn records_any(&self) -> bool {
        !self.sources.is_empty()
    }
}

/// Read-only CloudTrail in one account and region.
#[async_trait]
pub trait TrailsApi: Send + Sync {
    /// The trails that apply to this region, shadow and organization trails included
    /// (DescribeTrails with `includeShadowTrails`).
    async fn trails(&self) -> Result<Vec<Trail>, AwsError>;
    /// Whether the trail `arn` is logging (GetTrailStatus `IsLogging`); ask in its home region.
    async fn is_logging(&self, arn: &str) -> Result<bool, AwsError>;
    /// The write management events the trail `arn` records (GetEventSelectors); ask in its
    /// home region.
    async fn management_writes(&self, arn: &str) -> Result<ManagementWrites, AwsError>;
}

/// [`TrailsApi`] through the SDK.
pub(crate) struct SdkTrails {
    pub(crate) client: aws_sdk_cloudtrail::Client,
    pub(crate) region: Region,
}

#[async_trait]
impl TrailsApi for SdkTrails {
    async fn trails(&self) -> Result<Vec<Trail>, AwsError> {
        let mut trails: Vec<Trail> = describe_trails(&self.client, true)
            .await?
            .iter()
            .filter_map(|t| {
                let arn = t.trail_arn()?.to_owned();
                // The ARN names the home region when a reply leaves HomeRegion out.
                let home = t
                    .home_region()
                    .or_else(|| arn.split(':').nth(3))
                    .map_or_else(|| self.region.clone(), Region::new);
                Some(Trail {
                    name: t.name().unwrap_or_default().to_owned(),
                    arn,
                    home_region: home,
                    multi_region: t.is_multi_region_trail().unwrap_or(false),
                    organization: t.is_organization_trail().unwrap_or(false),
                })
            })
            .collect();
        trails.sort();
        Ok(trails)
    }

    async fn is_logging(&self, arn: &str) -> Result<bool, AwsError> {
        // By ARN: a shadow trail, and an organization trail seen from a member account, can
        // only be named so.
        let out = self
            .client
            .get_trail_status()
            .name(arn)
            .send()
            .await
            .map_err(|e| aws_error("cloudtrail:GetTrailStatus", e))?;
        Ok(out.is_logging().unwrap_or(false))
    }

    async fn management_writes(&self, arn: &str) -> Result<ManagementWrites, AwsError> {
        let out = get_event_selectors(&self.client, arn).await?;
        if !out.advanced_event_selectors().is_empty() {
            return Ok(ManagementWrites::of_advanced(&advanced_fields(&out)));
        }
        let selectors: Vec<BasicSelector> = out
            .event_selectors()
            .iter()
            .map(|s| BasicSelector {
                read_write: s.read_write_type().map(|t| t.as_str().to_owned()),
                include_management_events: s.include_management_events(),
                excluded_sources: s.exclude_management_event_sources().to_vec(),
            })
            .collect();
        Ok(ManagementWrites::of_basic(&selectors))
    }
}

/// DescribeTrails (one page: it has no paging, and a region holds at most a few trails), with
/// or without the shadows of trails whose home is elsewhere.
pub(crate) async fn describe_trails(
    client: &aws_sdk_cloudtrail::Client,
    include_shadow_trails: bool,
) -> Result<Vec<aws_sdk_cloudtrail::types::Trail>, AwsError> {
    let out = client
        .describe_trails()
        .include_shadow_trails(include_shadow_trails)
        .send()
        .await
        .map_err(|e| aws_error("cloudtrail:DescribeTrails", e))?;
    Ok(out.trail_list.unwrap_or_default())
}

/// GetEventSelectors of the trail `arn` (by ARN: a shadow or organization trail can only be
/// named so).
pub(crate) async fn get_event_selectors(
    client: &aws_sdk_cloudtrail::Client,
    arn: &str,
) -> Result<GetEventSelectorsOutput, AwsError> {
    client
        .get_event_selectors()
        .trail_name(arn)
        .send()
        .await
        .map_err(|e| aws_error("cloudtrail:GetEventSelectors", e))
}

/// The advanced event selectors of a GetEventSelectors reply, each as its field conditions.
pub(crate) fn advanced_fields(out: &GetEventSelectorsOutput) -> Vec<Vec<AdvancedField>> {
    out.advanced_event_selectors()
        .iter()
        .map(|s| {
            s.field_selectors()
                .iter()
                .map(|f| AdvancedField {
                    field: f.field().to_owned(),
                    condition: FieldCondition {
                        equals: f.equals().to_vec(),
                        starts_with: f.starts_with().to_vec(),
                        ends_with: f.ends_with().to_vec(),
                        not_equals: f.not_equals().to_vec(),
                        not_starts_with: f.not_starts_with().to_vec(),
                        not_ends_with: f.not_ends_with().to_vec(),
                    },
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(
        read_write: Option<&str>,
        management: Option<bool>,
        excluded: &[&str],
    ) -> BasicSelector {
        BasicSelector {
            read_write: read_write.map(str::to_owned),
            include_management_events: management,
            excluded_sources: excluded.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn field(name: &str, condition: FieldCondition) -> AdvancedField {
        AdvancedField {
            field: name.to_owned(),
            condition,
        }
    }

    fn equals(values: &[&str]) -> FieldCondition {
        FieldCondition {
            equals: values.iter().map(|s| (*s).to_owned()).collect(),
            ..FieldCondition::default()
        }
    }

    fn not_equals(values: &[&str]) -> FieldCondition {
        FieldCondition {
            not_equals: values.iter().map(|s| (*s).to_owned()).collect(),
            ..FieldCondition::default()
        }
    }

    const LAMBDA: &str = "lambda.amazonaws.com";

    #[test]
    fn basic_selectors_record_writes_with_all_or_write_only_and_management_events_on() {
        let check = |selectors: &[BasicSelector], lambda: bool, any: bool| {
            let writes = ManagementWrites::of_basic(selectors);
            assert_eq!(writes.records(LAMBDA), lambda, "{selectors:?}");
            assert_eq!(writes.records_any(), any, "{selectors:?}");
        };
        // No selectors: AWS's default, every management event.
        check(&[], true, true);
        check(&[basic(None, None, &[])], true, true);
        check(&[basic(Some("All"), Some(true), &[])], true, true);
        check(&[basic(Some("WriteOnly"), Some(true), &[])], true, true);
        check(&[basic(Some("ReadOnly"), Some(true), &[])], false, false);
        check(&[basic(Some("All"), Some(false), &[])], false, false);
        // An excluded source is not recorded; another selector can still record it.
        check(&[basic(Some("All"), Some(true), &[LAMBDA])], false, true);
        check(
            &[
                basic(Some("All"), Some(true), &[LAMBDA]),
                basic(Some("WriteOnly"), Some(true), &[]),
            ],
            true,
            true,
        );
    }

    #[test]
    fn advanced_selectors_record_management_writes_of_the_sources_they_admit() {
        let management = field("eventCategory", equals(&["Management"]));
        let check = |selectors: &[Vec<AdvancedField>], lambda: bool, any: bool| {
            let writes = ManagementWrites::of_advanced(selectors);
            assert_eq!(writes.records(LAMBDA), lambda, "{selectors:?}");
            assert_eq!(writes.records_any(), any, "{selectors:?}");
        };
        check(&[vec![management.clone()]], true, true);
        check(
            &[vec![
                management.clone(),
                field("readOnly", equals(&["false"])),
            ]],
            true,
            true,
        );
        check(
            &[vec![
                management.clone(),
                field("readOnly", equals(&["true"])),
            ]],
            false,
            false,
        );
        check(
            &[vec![
                management.clone(),
                field("eventSource", not_equals(&["kms.amazonaws.com"])),
            ]],
            true,
            true,
        );
        check(
            &[vec![
                management,
                field("eventSource", not_equals(&[LAMBDA])),
            ]],
            false,
            true,
        );
        // Data events only.
        check(
            &[vec![
                field("eventCategory", equals(&["Data"])),
                field("resources.type", equals(&["AWS::S3::Object"])),
            ]],
            false,
            false,
        );
        check(&[], false, false);
    }

    #[test]
    fn a_field_condition_holds_every_operator_it_has() {
        let c = FieldCondition {
            starts_with: vec!["lambda".into(), "s3".into()],
            not_ends_with: vec![".cn".into()],
            ..FieldCondition::default()
        };
        assert!(c.admits("lambda.amazonaws.com"));
        assert!(c.admits("s3.amazonaws.com"));
        assert!(!c.admits("logs.amazonaws.com"));
        assert!(!c.admits("lambda.amazonaws.com.cn"));
        assert!(FieldCondition::default().admits("anything"));
    }
}
