//! Connectors: where contributed items come from. A connector is a config (`kind` plus its
//! options) that builds a running [`Connector`]; the registry in [`SourceConfig`] names every
//! connector kind in one place. Connectors know nothing about storage.

pub mod api;
pub mod compliance;
mod connector;
mod feed;
mod files;
mod hackernews;
mod lines;
mod sender;
mod sitemap;
pub mod web;

pub use connector::{
    BuildContext, Connector, ConnectorError, Skip, SourceConfig, SourceEvent, SourceProgress,
};
pub use feed::{Entry as FeedEntry, FeedConfig, FeedConnector, FeedState, ParsedFeed, parse_feed};
pub use files::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LINE_BYTES, FilesConfig, FilesConnector};
pub use hackernews::{HackerNewsConfig, HackerNewsConnector};
pub use sender::{BudgetShare, Budgeted, Closed, ItemSender};
pub use sitemap::{SitemapConfig, SitemapConnector};
pub use web::{WebConfig, WebConnector};
