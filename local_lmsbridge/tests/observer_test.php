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

namespace local_lmsbridge;

/**
 * Tests of the observer: only courses the bridge manages, and only with the bridge URL and secret set.
 *
 * @package    local_lmsbridge
 * @category   test
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_lmsbridge\observer
 * @covers     \local_lmsbridge\webhook
 */
final class observer_test extends \advanced_testcase {
    /**
     * Start an attempt at a ticket quiz in a new course; returns the course.
     *
     * @param bool $managed whether the bridge manages the course
     * @return \stdClass
     */
    private function attempt(bool $managed): \stdClass {
        global $CFG;
        require_once($CFG->dirroot . '/mod/quiz/locallib.php');
        // The observers are external (internal=false): they run after the commit, which never comes while the
        // test runs inside the rollback transaction.
        $this->preventResetByRollback();
        $gen = $this->getDataGenerator();
        $course = $gen->create_course();
        $student = $gen->create_and_enrol($course, 'student', ['idnumber' => 'S-1']);
        [$cm] = tickets::ensure_quiz($course, tickets::QUIZ_IDNUMBER, 'Ticket', 0, 0);
        [$category] = tickets::ensure_category(\context_module::instance($cm->id));
        tickets::ensure_questions($category, [['number' => 1, 'name' => '', 'questions' => ['Q']]]);
        tickets::ensure_slot($cm, $category);
        if ($managed) {
            examroom::manage_course((int)$course->id);
        }
        $quizobj = \mod_quiz\quiz_settings::create($cm->instance, $student->id);
        quiz_prepare_and_start_new_attempt($quizobj, 1, null, false, [], [], $student->id);
        return $course;
    }

    /**
     * The posts waiting in the task queue.
     *
     * @return array[] payloads
     */
    private function queued(): array {
        $out = [];
        foreach (\core\task\manager::get_adhoc_tasks('\\local_lmsbridge\\task\\post_webhook') as $task) {
            $out[] = json_decode($task->get_custom_data()->body, true);
        }
        return $out;
    }

    public function test_an_attempt_in_a_managed_course_is_queued_once(): void {
        $this->resetAfterTest();
        $this->setAdminUser();
        set_config('bridgeurl', 'https://bridge.example.edu/webhooks/moodle', 'local_lmsbridge');
        set_config('secret', 'secret', 'local_lmsbridge');
        $course = $this->attempt(true);
        $posts = $this->queued();
        $this->assertCount(1, $posts);
        $this->assertSame('quiz_attempt_started', $posts[0]['event']);
        $this->assertSame((int)$course->id, $posts[0]['courseid']);
        $this->assertSame('S-1', $posts[0]['useridnumber']);
        $this->assertSame(1, $posts[0]['other']['ticket']['number']);
    }

    public function test_a_course_the_bridge_does_not_manage_sends_nothing(): void {
        $this->resetAfterTest();
        $this->setAdminUser();
        set_config('bridgeurl', 'https://bridge.example.edu/webhooks/moodle', 'local_lmsbridge');
        set_config('secret', 'secret', 'local_lmsbridge');
        $this->attempt(false);
        $this->assertSame([], $this->queued());
    }

    public function test_nothing_is_queued_while_the_url_or_the_secret_is_unset(): void {
        $this->resetAfterTest();
        $this->setAdminUser();
        set_config('bridgeurl', 'https://bridge.example.edu/webhooks/moodle', 'local_lmsbridge');
        set_config('secret', '', 'local_lmsbridge');
        $this->attempt(true);
        set_config('bridgeurl', '', 'local_lmsbridge');
        set_config('secret', 'secret', 'local_lmsbridge');
        $this->attempt(true);
        $this->assertSame([], $this->queued());
    }
}
