<?php
// This file is part of local_lmsbridge, the Moodle companion plugin of lms_bridge.
//
// local_lmsbridge is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// local_lmsbridge is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with local_lmsbridge.  If not, see <https://www.gnu.org/licenses/>.

namespace local_lmsbridge\privacy;

use core_privacy\local\metadata\collection;

/**
 * Privacy provider: the plugin stores nothing itself but sends event details to lms_bridge.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class provider implements \core_privacy\local\metadata\provider {
    /**
     * Describe what is sent to the external lms_bridge service.
     *
     * @param collection $collection
     * @return collection
     */
    public static function get_metadata(collection $collection): collection {
        $collection->add_external_location_link('lmsbridge', [
            'userid' => 'privacy:metadata:lmsbridge:userid',
            'useridnumber' => 'privacy:metadata:lmsbridge:useridnumber',
            'useremail' => 'privacy:metadata:lmsbridge:useremail',
            'courseid' => 'privacy:metadata:lmsbridge:courseid',
            'objectid' => 'privacy:metadata:lmsbridge:objectid',
            'other' => 'privacy:metadata:lmsbridge:other',
        ], 'privacy:metadata:lmsbridge');
        return $collection;
    }
}
