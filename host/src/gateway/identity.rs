//! Identity: who is asking, for what, and whether config lets them — the
//! seed's checks in the seed's order, statuses and codes (SEED-SPEC §6).

use crate::config::{Config, Model, Project, User};

/// An identity refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    UnknownUser,
    UserDisabled,
    UnknownProject,
    ProjectDisabled,
    ProjectMismatch,
    UnknownModel,
    ModelDisabled,
}

impl IdentityError {
    /// The seed's `detail` code.
    pub fn code(self) -> &'static str {
        match self {
            IdentityError::UnknownUser => "unknown_user",
            IdentityError::UserDisabled => "user_disabled",
            IdentityError::UnknownProject => "unknown_project",
            IdentityError::ProjectDisabled => "project_disabled",
            IdentityError::ProjectMismatch => "project_mismatch",
            IdentityError::UnknownModel => "unknown_model",
            IdentityError::ModelDisabled => "model_disabled",
        }
    }

    /// The seed's HTTP status.
    pub fn status(self) -> u16 {
        match self {
            IdentityError::UnknownUser
            | IdentityError::UserDisabled
            | IdentityError::ProjectMismatch => 403,
            IdentityError::UnknownModel => 404,
            _ => 400,
        }
    }
}

/// The checked identity.
pub struct Identity<'a> {
    pub user: &'a User,
    pub project: &'a Project,
    pub model: &'a Model,
}

/// Checks user, project and model, first failure wins.
pub fn check<'a>(
    config: &'a Config,
    user: &str,
    project: &str,
    model: &str,
) -> Result<Identity<'a>, IdentityError> {
    let user_cfg = config.users.get(user).ok_or(IdentityError::UnknownUser)?;
    if !user_cfg.enabled {
        return Err(IdentityError::UserDisabled);
    }
    let project_cfg = config
        .projects
        .get(project)
        .ok_or(IdentityError::UnknownProject)?;
    if !project_cfg.enabled {
        return Err(IdentityError::ProjectDisabled);
    }
    if user_cfg.project_id != project {
        return Err(IdentityError::ProjectMismatch);
    }
    let model_cfg = config
        .models
        .get(model)
        .ok_or(IdentityError::UnknownModel)?;
    if !model_cfg.enabled {
        return Err(IdentityError::ModelDisabled);
    }
    Ok(Identity {
        user: user_cfg,
        project: project_cfg,
        model: model_cfg,
    })
}
