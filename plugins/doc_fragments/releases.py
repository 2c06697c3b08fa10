# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    """Options of the releases/<id> + current layout, shared by release_facts and release_switch."""

    DOCUMENTATION = r"""
options:
  path:
    description:
      - The application root that holds the releases directory and the C(current) link
        (ansistrano's C(ansistrano_deploy_to), C(community.general.deploy_helper)'s C(path)).
    type: path
    required: true
  releases_dir:
    description: The directory of the releases, relative to O(path) or absolute. Each release is a directory named by its id.
    type: str
    default: releases
  current_link:
    description: The symlink to the running release, relative to O(path) or absolute.
    type: str
    default: current
  history_file:
    description:
      - The release history this collection records (releases that passed the gate, rollbacks), JSON.
      - Default C(.badgateway-releases.json) in O(path).
    type: path
notes:
  - The current release is what O(current_link) points to, never the newest directory by modification time.
"""
