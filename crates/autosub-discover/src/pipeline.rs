//! The steps every discoverer shares: list a service's resources, select them by name and tags,
//! read each one with bounded concurrency, and report what could not be read as gaps.
//!
//! A resource deleted between its listing and its read (`NotFound`) is gone, not a gap: it writes
//! nothing any more. Any other error reading one resource is a gap naming that resource, and a
//! listing that fails is one gap for the whole service; a gap forbids the pass's deletes, so a
//! denied or throttled read never removes a trigger.

use std::future::Future;

use autosub_aws::error::{AwsError, ErrorClass};
use autosub_aws::source_apis::Tags;
use autosub_core::focus::Focus;
use autosub_core::selection::ResourceFilter;
use autosub_core::{
    AccountId, Discovery, Gap, Location, LogSource, Region, Service, Unsubscribable,
};
use futures::{StreamExt, stream};

use crate::DiscoverCx;

/// One service's discovery in one account and region: its selection and its read budget.
pub struct Pipeline<'a> {
    service: Service,
    account: &'a AccountId,
    region: &'a Region,
    filter: ResourceFilter,
    concurrency: usize,
    focus: Option<&'a Focus>,
}

impl<'a> Pipeline<'a> {
    /// The discovery of `service` in `account` and `region`, selecting with `filter` and reading
    /// at most `concurrency` resources at once.
    pub fn new(
        service: Service,
        account: &'a AccountId,
        region: &'a Region,
        filter: ResourceFilter,
        concurrency: usize,
    ) -> Self {
        Self {
            service,
            account,
            region,
            filter,
            concurrency: concurrency.max(1),
            focus: None,
        }
    }

    /// The same discovery narrowed to the resources `focus` names (a targeted pass).
    pub fn focused(self, focus: Option<&'a Focus>) -> Self {
        Self { focus, ..self }
    }

    /// The discovery of `service` for the target `cx` runs for, with the service's filter.
    pub fn of(cx: &DiscoverCx<'a>, service: Service) -> Self {
        Self::new(
            service,
            cx.account,
            cx.region,
            cx.filter(service),
            cx.concurrency,
        )
        .focused(cx.focus)
    }

    /// The same discovery for resources that live in `region` (a global service's home).
    pub fn in_region(self, region: &'a Region) -> Self {
        Self { region, ..self }
    }

    /// The account discovered.
    pub fn account(&self) -> &'a AccountId {
        self.account
    }

    /// The region the resources live in.
    pub fn region(&self) -> &'a Region {
        self.region
    }

    /// A discovery that holds only the gap of failing to read `what`.
    pub fn gap(&self, what: &str, error: AwsError) -> Discovery {
        Discovery {
            gaps: vec![self.gap_of(format!("{what}: {error}"))],
            ..Discovery::default()
        }
    }

    fn gap_of(&self, detail: String) -> Gap {
        Gap {
            service: self.service,
            detail,
        }
    }

    /// The resources whose name the filter admits (and, in a targeted pass, that the focus
    /// names by their `arn`), before any tag is read. With a tag filter, [`Self::admits`]
    /// decides the rest per resource.
    pub fn by_name<T>(
        &self,
        resources: Vec<T>,
        name: impl Fn(&T) -> &str,
        arn: impl Fn(&T) -> String,
    ) -> Vec<T> {
        let no_tags = Tags::new();
        let names_only = ResourceFilter {
            tags: Default::default(),
            ..self.filter.clone()
        };
        resources
            .into_iter()
            .filter(|r| self.in_focus(&arn(r)) && names_only.admits(name(r), &no_tags))
            .collect()
    }

    /// Whether the resource `name` (`arn`) is selected, when its tags are already known (listed
    /// with it, or read in one batch; a resource with no tags entry has none).
    pub fn selects(&self, name: &str, arn: &str, tags: Option<&Tags>) -> bool {
        self.in_focus(arn) && self.filter.admits(name, tags.unwrap_or(&Tags::new()))
    }

    /// True outside a targeted pass, and in one for the resources its focus names.
    fn in_focus(&self, arn: &str) -> bool {
        self.focus.is_none_or(|f| f.names(self.service, arn))
    }

    /// True when the filter needs tags, so that batch tag reads are made only then.
    pub fn needs_tags(&self) -> bool {
        self.filter.needs_tags()
    }

    /// Whether the filter admits the resource `name`, reading its tags with `tags` only when the
    /// filter needs them. A tag read's error is the resource's error.
    pub async fn admits<F>(&self, name: &str, tags: impl FnOnce() -> F) -> Result<bool, AwsError>
    where
        F: Future<Output = Result<Tags, AwsError>>,
    {
        if !self.filter.needs_tags() {
            return Ok(self.filter.admits(name, &Tags::new()));
        }
        Ok(self.filter.admits(name, &tags().await?))
    }

    /// Reads every resource with `read`, at most the budget at once, and merges what they write.
    /// A `NotFound` error means the resource is gone; any other error is a gap named by `label`.
    pub async fn read_each<T, F>(
        &self,
        resources: Vec<T>,
        label: impl Fn(&T) -> String,
        read: impl Fn(T) -> F,
    ) -> Discovery
    where
        F: Future<Output = Result<Discovery, AwsError>>,
    {
        let results: Vec<(String, Result<Discovery, AwsError>)> = stream::iter(resources)
            .map(|resource| {
                let label = label(&resource);
                let reading = read(resource);
                async move { (label, reading.await) }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut found = Discovery::default();
        for (label, result) in results {
            match result {
                Ok(one) => found.merge(one),
                Err(e) if e.class == ErrorClass::NotFound => {}
                Err(e) => found.gaps.push(self.gap_of(format!("{label}: {e}"))),
            }
        }
        found.normalize()
    }

    /// What `resource_arn` writes to `locations`.
    pub fn sources(
        &self,
        resource_arn: &str,
        locations: impl IntoIterator<Item = Location>,
    ) -> Discovery {
        Discovery {
            sources: locations
                .into_iter()
                .map(|location| LogSource {
                    service: self.service,
                    resource_arn: resource_arn.to_owned(),
                    location,
                })
                .collect(),
            ..Discovery::default()
        }
    }

    /// What `resource_arn` writes to each of its `destinations`: a source where `locate` finds a
    /// location, an unsubscribable destination (with why) where it does not.
    pub fn destinations(
        &self,
        resource_arn: &str,
        destinations: impl IntoIterator<Item = String>,
        locate: impl Fn(&str) -> Result<Location, String>,
    ) -> Discovery {
        let mut found = Discovery::default();
        for destination in destinations {
            match locate(&destination) {
                Ok(location) => found.merge(self.sources(resource_arn, [location])),
                Err(why) => found.unsubscribable.push(Unsubscribable {
                    service: self.service,
                    resource_arn: resource_arn.to_owned(),
                    destination,
                    why,
                }),
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use autosub_core::LogGroupName;

    use super::*;

    fn error(class: ErrorClass) -> AwsError {
        AwsError {
            class,
            operation: "states:DescribeStateMachine",
            code: None,
            message: "refused".into(),
        }
    }

    fn group(name: &str) -> Location {
        Location::LogGroup {
            name: LogGroupName::new(name),
        }
    }

    fn pipeline<'a>(
        account: &'a AccountId,
        region: &'a Region,
        filter: ResourceFilter,
    ) -> Pipeline<'a> {
        Pipeline::new(Service::StepFunctions, account, region, filter, 2)
    }

    #[test]
    fn a_gone_resource_is_nothing_and_any_other_error_a_gap_naming_it() {
        let (account, region) = (AccountId::new("123456789012"), Region::new("eu-west-1"));
        let p = pipeline(&account, &region, ResourceFilter::default());
        let found = futures::executor::block_on(p.read_each(
            vec!["ok", "gone", "denied"],
            |name| format!("state machine {name}"),
            |name| {
                let p = &p;
                async move {
                    match name {
                        "gone" => Err(error(ErrorClass::NotFound)),
                        "denied" => Err(error(ErrorClass::AccessDenied)),
                        _ => Ok(p.sources(name, [group("/sfn/ok")])),
                    }
                }
            },
        ));
        assert_eq!(found.sources.len(), 1, "{found:?}");
        assert_eq!(found.sources[0].resource_arn, "ok");
        assert_eq!(found.gaps.len(), 1, "{found:?}");
        assert!(
            found.gaps[0].detail.starts_with(
                "state machine denied: states:DescribeStateMachine failed (access_denied)"
            ),
            "{found:?}"
        );
        assert_eq!(found.gaps[0].service, Service::StepFunctions);
    }

    /// Lets the other reads in flight run before this one ends.
    async fn yield_once() {
        let mut yielded = false;
        futures::future::poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await
    }

    #[test]
    fn reads_stay_within_the_budget() {
        let (account, region) = (AccountId::new("123456789012"), Region::new("eu-west-1"));
        let p = pipeline(&account, &region, ResourceFilter::default());
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let found = futures::executor::block_on(p.read_each(
            (0..20).collect(),
            |i| i.to_string(),
            |_| async {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(current, Ordering::SeqCst);
                yield_once().await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(Discovery::default())
            },
        ));
        assert!(found.gaps.is_empty());
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn names_are_checked_before_tags_and_tags_only_when_the_filter_needs_them() {
        let (account, region) = (AccountId::new("123456789012"), Region::new("eu-west-1"));
        let tagged = ResourceFilter {
            include: vec!["prod-*".into()],
            exclude: vec![],
            tags: BTreeMap::from([("logs".into(), "datadog".into())]),
        };
        let p = pipeline(&account, &region, tagged);
        assert_eq!(
            p.by_name(vec!["prod-a", "dev-b"], |n| n, |n| format!("arn:x:{n}")),
            vec!["prod-a"],
            "names first, whatever the tags"
        );
        let datadog = Tags::from([("logs".into(), "datadog".into())]);
        assert!(p.selects("prod-a", "arn:x:prod-a", Some(&datadog)));
        assert!(!p.selects("prod-a", "arn:x:prod-a", None));
        assert!(!p.selects("dev-b", "arn:x:dev-b", Some(&datadog)));
        let admits = |tags: Result<Tags, AwsError>| {
            futures::executor::block_on(p.admits("prod-a", || async { tags }))
        };
        assert!(admits(Ok(datadog)).unwrap());
        assert!(!admits(Ok(Tags::new())).unwrap());
        assert!(admits(Err(error(ErrorClass::AccessDenied))).is_err());

        let untagged = pipeline(&account, &region, ResourceFilter::default());
        let read = futures::executor::block_on(untagged.admits("any", || async {
            panic!("no tag read without a tag filter")
        }));
        assert!(read.unwrap());
    }

    #[test]
    fn a_targeted_pass_selects_only_what_its_focus_names() {
        let (account, region) = (AccountId::new("123456789012"), Region::new("eu-west-1"));
        let mut focus = Focus::default();
        focus.add(autosub_core::cloudtrail::Touched::Resource {
            service: Service::StepFunctions,
            key: "orders".into(),
        });
        let p = pipeline(&account, &region, ResourceFilter::default()).focused(Some(&focus));
        let arn = |n: &&str| format!("arn:aws:states:eu-west-1:123456789012:stateMachine:{n}");
        assert_eq!(
            p.by_name(vec!["orders", "billing"], |n| n, arn),
            vec!["orders"]
        );
        assert!(!p.selects("billing", &arn(&"billing"), None));
        let everything = pipeline(&account, &region, ResourceFilter::default());
        assert_eq!(
            everything
                .by_name(vec!["orders", "billing"], |n| n, arn)
                .len(),
            2
        );
    }

    #[test]
    fn destinations_split_into_sources_and_unsubscribable() {
        let (account, region) = (AccountId::new("123456789012"), Region::new("eu-west-1"));
        let p = pipeline(&account, &region, ResourceFilter::default());
        let found = p.destinations("arn:m", ["/a".to_owned(), "firehose".to_owned()], |d| {
            if d.starts_with('/') {
                Ok(group(d))
            } else {
                Err("no trigger on a stream".to_owned())
            }
        });
        assert_eq!(found.sources.len(), 1);
        assert_eq!(found.unsubscribable.len(), 1);
        assert_eq!(found.unsubscribable[0].destination, "firehose");
        assert_eq!(found.unsubscribable[0].why, "no trigger on a stream");
    }
}
