// A small Qt 6 Wayland client for the compositor tests: a titled window that draws
// a solid colour block and text, and prints a line when it has rendered a frame.
import QtQuick
import QtQuick.Window

Window {
    width: 400
    height: 300
    visible: true
    title: "wrd-qt6-test"
    color: "#2040c0"

    Rectangle {
        x: 50; y: 50; width: 300; height: 200
        color: "#f0c020"
        Text { anchors.centerIn: parent; text: "Qt 6 on WRD"; font.pixelSize: 28 }
    }
    onFrameSwapped: if (!done) { done = true; console.log("wrd-qt6-frame") }
    property bool done: false
}
