pub mod integrity;
pub mod netns;
