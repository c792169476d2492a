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

/**
 * External functions and the pre-built "lms_bridge" service.
 *
 * @package    local_lmsbridge
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$functions = [
    'local_lmsbridge_setup_tickets' => [
        'classname' => 'local_lmsbridge\external\setup_tickets',
        'description' => 'Ensure the ticket quiz, its Tickets question category, one essay question per ticket '
            . 'and exactly one random slot drawing from that category. Idempotent.',
        'type' => 'write',
        'capabilities' => 'local/lmsbridge:managetickets, mod/quiz:manage, moodle/question:add, moodle/question:useall',
    ],
    'local_lmsbridge_get_drawn_tickets' => [
        'classname' => 'local_lmsbridge\external\get_drawn_tickets',
        'description' => 'Which ticket question each attempt of a quiz drew.',
        'type' => 'read',
        'capabilities' => 'local/lmsbridge:viewdrawntickets',
    ],
    'local_lmsbridge_open_ticket' => [
        'classname' => 'local_lmsbridge\external\open_ticket',
        'description' => 'Admit one student to the draw: open the ticket quiz for that student alone (user override) '
            . 'and start the attempt with the ticket of the verifiable draw. Idempotent.',
        'type' => 'write',
        'capabilities' => 'local/lmsbridge:admit, mod/quiz:manageoverrides',
    ],
    'local_lmsbridge_setup_test_quiz' => [
        'classname' => 'local_lmsbridge\external\setup_test_quiz',
        'description' => 'Ensure a test exam\'s quiz (closed until a user override admits a student), its Test question '
            . 'category, one multiple-choice question per bank entry and the random slots. Idempotent.',
        'type' => 'write',
        'capabilities' => 'local/lmsbridge:managetickets, mod/quiz:manage, moodle/question:add, moodle/question:useall',
    ],
    'local_lmsbridge_ensure_result_assignment' => [
        'classname' => 'local_lmsbridge\external\ensure_result_assignment',
        'description' => 'Ensure the "Commission result" assignment the decisions are graded through. Idempotent.',
        'type' => 'write',
        'capabilities' => 'local/lmsbridge:managetickets, mod/assign:addinstance',
    ],
];

$services = [
    'lms_bridge' => [
        'shortname' => 'lms_bridge',
        'functions' => [
            // Core functions the lms_bridge service calls.
            'core_webservice_get_site_info',
            'core_user_get_users_by_field',
            // E-mail search that ignores case (get_users_by_field compares e-mails exactly).
            'core_user_get_users',
            'core_user_create_users',
            'enrol_manual_enrol_users',
            'core_enrol_get_enrolled_users',
            'core_course_create_courses',
            'core_course_get_courses_by_field',
            'core_course_duplicate_course',
            'core_course_update_courses',
            'core_course_get_contents',
            // The course module's idnumber, which a course copy keeps (nosubmissions it does not).
            'core_course_get_course_module',
            'mod_quiz_get_quizzes_by_courses',
            // 4.5 has only mod_quiz_get_user_attempts; 5.0 deprecates it (removed in 6.0) for
            // mod_quiz_get_user_quiz_attempts, which lms_bridge calls where the service offers it. Listed on 4.5
            // too: the service then names a function the site lacks, which Moodle leaves out of the token's
            // functions (and keeps, lib/upgradelib.php external_update_descriptions), so that after the site's
            // upgrade to 5.x the service offers it without upgrading this plugin again.
            'mod_quiz_get_user_attempts',
            'mod_quiz_get_user_quiz_attempts',
            'mod_quiz_save_overrides',
            'mod_quiz_get_overrides',
            'mod_quiz_add_random_questions',
            // With moodle.plugin = core: the quiz bank's categories, as the "Add a random question" form lists them.
            'core_get_fragment',
            'mod_assign_get_assignments',
            'mod_assign_get_submissions',
            'mod_assign_save_grade',
            // Read back after saving: Moodle ignores a grade above the maximum without an error.
            'mod_assign_get_grades',
            'core_grades_update_grades',
            'core_grades_get_gradeitems',
            // This plugin's functions.
            'local_lmsbridge_setup_tickets',
            'local_lmsbridge_get_drawn_tickets',
            'local_lmsbridge_ensure_result_assignment',
            'local_lmsbridge_open_ticket',
            'local_lmsbridge_setup_test_quiz',
        ],
        'enabled' => 1,
        // Only the users an administrator lists may use tokens of this service.
        'restrictedusers' => 1,
        'downloadfiles' => 1,
        'uploadfiles' => 1,
    ],
];
