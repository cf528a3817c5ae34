//! Connectors: where contributed items come from. A connector is a config (`kind` plus its
//! options) that builds a running [`Connector`]; the registry in [`SourceConfig`] names every
//! connector kind in one place. Connectors know nothing about storage.

pub mod api;
pub mod arxiv;
pub mod compliance;
mod connector;
mod dataset;
mod feed;
mod files;
mod github;
mod hackernews;
mod lines;
mod local;
mod mastodon;
mod mediawiki;
mod sender;
mod sitemap;
pub mod warc;
pub mod web;

pub use arxiv::{ArxivConfig, ArxivConnector};
pub use connector::{
    BuildContext, Connector, ConnectorError, KINDS, KindInfo, Skip, SourceConfig, SourceEvent,
    SourceProgress,
};
pub use dataset::{DatasetConfig, DatasetConnector};
pub use feed::{Entry as FeedEntry, FeedConfig, FeedConnector, FeedState, ParsedFeed, parse_feed};
pub use files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LINE_BYTES, FilesConfig, FilesConnector};
pub use github::{GithubConfig, GithubConnector};
pub use hackernews::{HackerNewsConfig, HackerNewsConnector};
pub use mastodon::{MastodonConfig, MastodonConnector};
pub use mediawiki::{MediaWikiConfig, MediaWikiConnector};
pub use sender::{BudgetShare, Budgeted, Closed, ItemSender};
pub use sitemap::{SitemapConfig, SitemapConnector};
pub use warc::{WarcConfig, WarcConnector};
pub use web::{WebConfig, WebConnector};
